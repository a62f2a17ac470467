package storage

import (
	"context"
	"strings"
)

// likeEscaper escapes LIKE's wildcards (with ESCAPE '\').
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ServerEverJoined reports whether an accepted (not rejected or
// soft-failed) join of a user of server is stored for the room.
func (s *RoomStore) ServerEverJoined(ctx context.Context, roomID, server string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM events e
		WHERE e.room_id = $1 AND e.type = 'm.room.member' AND e.membership = 'join'
		AND e.rejected = FALSE AND e.soft_failed = FALSE AND e.state_key LIKE $2 ESCAPE '\'`,
		roomID, "%:"+likeEscaper.Replace(server)).Scan(&n)
	return n > 0, err
}
