package storage

import "context"

// ServerEverJoined reports whether an accepted join of a user of server
// is stored for the room. Server names hold no LIKE wildcards ('%', '_'
// are not in the grammar of server names), so the suffix match is exact.
func (s *RoomStore) ServerEverJoined(ctx context.Context, roomID, server string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM events e
		WHERE e.room_id = $1 AND e.type = 'm.room.member' AND e.membership = 'join'
		AND e.rejected = FALSE AND e.state_key LIKE $2`, roomID, "%:"+server).Scan(&n)
	return n > 0, err
}
