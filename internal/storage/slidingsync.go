package storage

import (
	"context"
	"database/sql"
	"encoding/json"

	"foyer/internal/slidingsync"
)

// SlidingSyncStore reads room lists for sliding sync.
type SlidingSyncStore struct{ db *DB }

// NewSlidingSyncStore returns the sliding sync store of db.
func NewSlidingSyncStore(db *DB) *SlidingSyncStore { return &SlidingSyncStore{db: db} }

var _ slidingsync.Store = (*SlidingSyncStore)(nil)

func (s *SlidingSyncStore) ListedRooms(ctx context.Context, userID string) ([]slidingsync.ListedRoom, error) {
	// Only the sender of a leave (a kick stays listed) or an invite (an
	// ignored inviter's is hidden) matters, so only those read their event.
	rows, err := s.db.Read.QueryContext(ctx, `SELECT c.room_id, c.membership, c.stream_pos, COALESCE(e.sender, ''),
			COALESCE(b.stream_pos, 0), CASE WHEN c.membership = 'invite' THEN e.json ELSE '' END
		FROM current_state c
		LEFT JOIN events e ON c.membership IN ('leave', 'invite') AND e.event_id = c.event_id
		LEFT JOIN room_bump_stamps b ON b.room_id = c.room_id
		WHERE c.type = 'm.room.member' AND c.state_key = $1`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []slidingsync.ListedRoom
	for rows.Next() {
		var r slidingsync.ListedRoom
		var invite sql.NullString
		if err := rows.Scan(&r.RoomID, &r.Membership, &r.MembershipPos, &r.MembershipSender, &r.BumpPos, &invite); err != nil {
			return nil, err
		}
		r.DirectInvite = invite.String != "" && isDirectInvite(invite.String)
		out = append(out, r)
	}
	return out, rows.Err()
}

// isDirectInvite reads is_direct from an invite event's JSON.
func isDirectInvite(raw string) bool {
	var ev struct {
		Content struct {
			IsDirect bool `json:"is_direct"`
		} `json:"content"`
	}
	return json.Unmarshal([]byte(raw), &ev) == nil && ev.Content.IsDirect
}

func (s *SlidingSyncStore) MembershipsDigest(ctx context.Context, userID string) (slidingsync.MembershipsDigest, error) {
	var d slidingsync.MembershipsDigest
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(stream_pos), 0), COALESCE(MAX(stream_pos), 0)
		FROM current_state WHERE type = 'm.room.member' AND state_key = $1`, userID).Scan(&d.Count, &d.SumPos, &d.MaxPos)
	return d, err
}

func (s *SlidingSyncStore) ForgottenRooms(ctx context.Context, userID string) (map[string]bool, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id FROM forgotten_rooms WHERE user_id = $1`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

func (s *SlidingSyncStore) RoomFacts(ctx context.Context, roomIDs []string) (map[string]slidingsync.RoomFacts, error) {
	out := make(map[string]slidingsync.RoomFacts, len(roomIDs))
	for start := 0; start < len(roomIDs); start += maxInArgs {
		chunk := roomIDs[start:min(start+maxInArgs, len(roomIDs))]
		var p placeholders
		rows, err := s.db.Read.QueryContext(ctx, `SELECT c.room_id, c.type, e.json FROM current_state c
			JOIN events e ON e.event_id = c.event_id
			WHERE c.room_id IN (`+p.list(s.db.Dialect, chunk)+`) AND c.state_key = '' AND c.type IN ('m.room.create', 'm.room.encryption')`, p.args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var roomID, typ, raw string
			if err := rows.Scan(&roomID, &typ, &raw); err != nil {
				rows.Close()
				return nil, err
			}
			f := out[roomID]
			if typ == "m.room.encryption" {
				f.Encrypted = true
			} else {
				var ev struct {
					Content struct {
						Type *string `json:"type"`
					} `json:"content"`
				}
				if json.Unmarshal([]byte(raw), &ev) == nil && ev.Content.Type != nil {
					f.Type, f.HasType = *ev.Content.Type, true
				}
			}
			out[roomID] = f
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *SlidingSyncStore) RoomsWithEventsAfter(ctx context.Context, rooms map[string]int64, to int64) (map[string]bool, error) {
	out := map[string]bool{}
	for roomID, after := range rooms {
		var found int
		err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM events e
			WHERE e.room_id = $1 AND e.stream_pos > $2 AND e.stream_pos <= $3`+shownToClients+` LIMIT 1) AS x`,
			roomID, after, to).Scan(&found)
		if err != nil {
			return nil, err
		}
		if found > 0 {
			out[roomID] = true
		}
	}
	return out, nil
}
