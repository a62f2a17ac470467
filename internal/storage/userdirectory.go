package storage

import (
	"context"
	"encoding/json"

	"foyer/internal/rooms"
)

// The user directory's queries (rooms.Store), computed from current room
// state and profiles at query time.

func (s *RoomStore) CurrentStateOfType(ctx context.Context, eventType, stateKey string) ([]rooms.StoredEvent, error) {
	return collectEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+`
		FROM current_state c JOIN events e ON e.event_id = c.event_id JOIN rooms r ON r.room_id = e.room_id
		WHERE c.type = $1 AND c.state_key = $2 ORDER BY c.room_id`, eventType, stateKey))
}

// DirectoryCandidates lists the users joined to a room with userID and
// those joined to roomIDs. A local user is shown with their profile
// (deactivated ones left out); a user of another server, whom this server
// knows only from rooms, with the name and avatar of their member event.
func (s *RoomStore) DirectoryCandidates(ctx context.Context, userID string, roomIDs []string) ([]rooms.DirectoryUser, error) {
	memberEvents := map[string]string{} // user → a member event of theirs
	var order []string
	collect := func(q string, args ...any) error {
		rows, err := s.db.Read.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var user, eventID string
			if err := rows.Scan(&user, &eventID); err != nil {
				return err
			}
			if _, ok := memberEvents[user]; !ok {
				memberEvents[user] = eventID
				order = append(order, user)
			}
		}
		return rows.Err()
	}
	// Users who share a joined room with userID.
	if err := collect(`SELECT m.state_key, m.event_id FROM current_state me
		JOIN current_state m ON m.room_id = me.room_id AND m.type = 'm.room.member' AND m.membership = 'join'
		WHERE me.type = 'm.room.member' AND me.state_key = $1 AND me.membership = 'join' AND m.state_key <> $1`, userID); err != nil {
		return nil, err
	}
	// Users joined to the given rooms.
	for start := 0; start < len(roomIDs); start += maxInArgs {
		var p placeholders
		chunk := roomIDs[start:min(start+maxInArgs, len(roomIDs))]
		if err := collect(`SELECT state_key, event_id FROM current_state
			WHERE type = 'm.room.member' AND membership = 'join' AND room_id IN (`+p.list(s.db.Dialect, chunk)+`)`, p.args...); err != nil {
			return nil, err
		}
	}
	local, err := s.directoryProfiles(ctx, order)
	if err != nil {
		return nil, err
	}
	var remoteEvents []string
	for _, u := range order {
		if _, ok := local[u]; !ok {
			remoteEvents = append(remoteEvents, memberEvents[u])
		}
	}
	// Current state may name an outlier (state a join brought): any status.
	events, err := s.getEvents(ctx, remoteEvents, true)
	if err != nil {
		return nil, err
	}
	out := make([]rooms.DirectoryUser, 0, len(order))
	for _, u := range order {
		if p, ok := local[u]; ok {
			if p.deactivated {
				continue
			}
			out = append(out, p.DirectoryUser)
			continue
		}
		d := rooms.DirectoryUser{UserID: u}
		if se, ok := events[memberEvents[u]]; ok {
			var c struct {
				DisplayName string `json:"displayname"`
				AvatarURL   string `json:"avatar_url"`
			}
			_ = json.Unmarshal(se.Event.Content(), &c)
			d.DisplayName, d.AvatarURL = c.DisplayName, c.AvatarURL
		}
		out = append(out, d)
	}
	return out, nil
}

type directoryProfile struct {
	rooms.DirectoryUser
	deactivated bool
}

// directoryProfiles reads the accounts and profiles of those of users
// who are local accounts.
func (s *RoomStore) directoryProfiles(ctx context.Context, users []string) (map[string]directoryProfile, error) {
	out := make(map[string]directoryProfile, len(users))
	for start := 0; start < len(users); start += maxInArgs {
		var p placeholders
		rows, err := s.db.Read.QueryContext(ctx, `SELECT u.user_id, u.deactivated, COALESCE(p.displayname, ''), COALESCE(p.avatar_url, '')
			FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id
			WHERE u.user_id IN (`+p.list(s.db.Dialect, users[start:min(start+maxInArgs, len(users))])+`)`, p.args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var d directoryProfile
			if err := rows.Scan(&d.UserID, &d.deactivated, &d.DisplayName, &d.AvatarURL); err != nil {
				rows.Close()
				return nil, err
			}
			out[d.UserID] = d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *RoomStore) RoomsJoinedByServer(ctx context.Context, server string) ([]string, error) {
	return collectStrings(s.db.Read.QueryContext(ctx, `SELECT DISTINCT room_id FROM current_state
		WHERE type = 'm.room.member' AND membership = 'join' AND state_key LIKE $1 ESCAPE '\'`,
		"%:"+likeEscaper.Replace(server)))
}
