package storage

import (
	"context"

	"foyer/internal/rooms"
)

// The user directory's queries (rooms.Store), computed from current room
// state and profiles at query time.

func (s *RoomStore) CurrentStateOfType(ctx context.Context, eventType, stateKey string) ([]rooms.StoredEvent, error) {
	return collectEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+`
		FROM current_state c JOIN events e ON e.event_id = c.event_id JOIN rooms r ON r.room_id = e.room_id
		WHERE c.type = $1 AND c.state_key = $2 ORDER BY c.room_id`, eventType, stateKey))
}

func (s *RoomStore) DirectoryCandidates(ctx context.Context, userID string, roomIDs []string) ([]rooms.DirectoryUser, error) {
	seen := map[string]bool{}
	var out []rooms.DirectoryUser
	collect := func(members string, args ...any) error {
		rows, err := s.db.Read.QueryContext(ctx, `SELECT u.user_id, COALESCE(p.displayname, ''), COALESCE(p.avatar_url, '')
			FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id
			WHERE NOT u.deactivated AND u.user_id IN (`+members+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d rooms.DirectoryUser
			if err := rows.Scan(&d.UserID, &d.DisplayName, &d.AvatarURL); err != nil {
				return err
			}
			if !seen[d.UserID] {
				seen[d.UserID] = true
				out = append(out, d)
			}
		}
		return rows.Err()
	}
	// Users who share a joined room with userID.
	if err := collect(`SELECT m.state_key FROM current_state me
		JOIN current_state m ON m.room_id = me.room_id AND m.type = 'm.room.member' AND m.membership = 'join'
		WHERE me.type = 'm.room.member' AND me.state_key = $1 AND me.membership = 'join' AND m.state_key <> $1`, userID); err != nil {
		return nil, err
	}
	// Users joined to the given rooms.
	for start := 0; start < len(roomIDs); start += maxInArgs {
		var p placeholders
		chunk := roomIDs[start:min(start+maxInArgs, len(roomIDs))]
		if err := collect(`SELECT state_key FROM current_state
			WHERE type = 'm.room.member' AND membership = 'join' AND room_id IN (`+p.list(chunk)+`)`, p.args...); err != nil {
			return nil, err
		}
	}
	return out, nil
}
