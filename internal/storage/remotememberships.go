package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"foyer/internal/rooms"
)

// RemoteMembershipStore implements rooms.RemoteMembershipStore.
type RemoteMembershipStore struct{ db *DB }

// NewRemoteMembershipStore returns the remote membership store over db.
func NewRemoteMembershipStore(db *DB) *RemoteMembershipStore { return &RemoteMembershipStore{db: db} }

// PutRemoteMembership counts the user's other pending rows under the
// account's lock (PostgreSQL; SQLite has one writer), so concurrent
// invites cannot pass the cap together.
func (s *RemoteMembershipStore) PutRemoteMembership(ctx context.Context, m rooms.RemoteMembership, maxPending int) error {
	servers, err := json.Marshal(m.Servers)
	if err != nil {
		return err
	}
	state := m.State
	if len(state) == 0 {
		state = json.RawMessage("[]")
	}
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, _, err := s.db.lockAccount(ctx, tx, m.UserID); err != nil {
			return err
		}
		if m.Membership == "invite" || m.Membership == "knock" {
			var pending int
			// A row the user's membership in a room's state here has
			// since superseded (they joined) is not pending.
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM remote_memberships r
				WHERE r.user_id = $1 AND r.room_id <> $2 AND r.membership IN ('invite', 'knock')
				AND NOT EXISTS (SELECT 1 FROM current_state c WHERE c.room_id = r.room_id
					AND c.type = 'm.room.member' AND c.state_key = r.user_id AND c.stream_pos > r.stream_pos)`,
				m.UserID, m.RoomID).Scan(&pending); err != nil {
				return err
			}
			if maxPending > 0 && pending >= maxPending {
				return rooms.ErrRemoteMembershipCap
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO remote_memberships
			(user_id, room_id, membership, event_id, room_version, event_json, stripped_state, servers, stream_pos)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (user_id, room_id) DO UPDATE SET membership = excluded.membership, event_id = excluded.event_id,
				room_version = excluded.room_version, event_json = excluded.event_json,
				stripped_state = excluded.stripped_state, servers = excluded.servers, stream_pos = excluded.stream_pos`,
			m.UserID, m.RoomID, m.Membership, m.EventID, m.RoomVersion, string(m.Event), string(state), string(servers), m.StreamPos)
		return err
	})
}

func (s *RemoteMembershipStore) DeleteRemoteMembership(ctx context.Context, userID, roomID string) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM remote_memberships WHERE user_id = $1 AND room_id = $2`, userID, roomID)
	return err
}

const remoteMembershipColumns = `user_id, room_id, membership, event_id, room_version, event_json, stripped_state, servers, stream_pos`

func (s *RemoteMembershipStore) RemoteMembership(ctx context.Context, userID, roomID string) (rooms.RemoteMembership, error) {
	row := s.db.Read.QueryRowContext(ctx, `SELECT `+remoteMembershipColumns+` FROM remote_memberships
		WHERE user_id = $1 AND room_id = $2`, userID, roomID)
	m, err := scanRemoteMembership(row)
	if errors.Is(err, sql.ErrNoRows) {
		return rooms.RemoteMembership{}, rooms.ErrNotFound
	}
	return m, err
}

func (s *RemoteMembershipStore) RemoteMemberships(ctx context.Context, userID string) ([]rooms.RemoteMembership, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+remoteMembershipColumns+` FROM remote_memberships
		WHERE user_id = $1 ORDER BY room_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rooms.RemoteMembership
	for rows.Next() {
		m, err := scanRemoteMembership(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func scanRemoteMembership(row interface{ Scan(...any) error }) (rooms.RemoteMembership, error) {
	var m rooms.RemoteMembership
	var event, state, servers string
	if err := row.Scan(&m.UserID, &m.RoomID, &m.Membership, &m.EventID, &m.RoomVersion, &event, &state, &servers, &m.StreamPos); err != nil {
		return rooms.RemoteMembership{}, err
	}
	m.Event, m.State = json.RawMessage(event), json.RawMessage(state)
	if err := json.Unmarshal([]byte(servers), &m.Servers); err != nil {
		return rooms.RemoteMembership{}, err
	}
	return m, nil
}
