package storage

import (
	"context"
	"database/sql"
	"errors"

	"foyer/internal/presence"
)

// PresenceStore implements presence.Store.
type PresenceStore struct{ db *DB }

// NewPresenceStore returns the presence store over db.
func NewPresenceStore(db *DB) *PresenceStore { return &PresenceStore{db: db} }

func (s *PresenceStore) Get(ctx context.Context, userID string) (presence.Status, error) {
	var st presence.Status
	var msg sql.NullString
	err := s.db.Read.QueryRowContext(ctx, `SELECT user_id, presence, status_msg, last_active_ts, stream_pos FROM presence WHERE user_id = $1`,
		userID).Scan(&st.UserID, &st.Presence, &msg, &st.LastActiveTS, &st.StreamPos)
	if errors.Is(err, sql.ErrNoRows) {
		return st, presence.ErrNotFound
	}
	if msg.Valid {
		st.StatusMsg = &msg.String
	}
	return st, err
}

func (s *PresenceStore) Put(ctx context.Context, st presence.Status) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO presence (user_id, presence, status_msg, last_active_ts, stream_pos)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET presence = excluded.presence, status_msg = excluded.status_msg,
			last_active_ts = excluded.last_active_ts, stream_pos = excluded.stream_pos`,
		st.UserID, st.Presence, st.StatusMsg, st.LastActiveTS, st.StreamPos)
	return err
}

// Live lists the stored status of every user who is not offline.
func (s *PresenceStore) Live(ctx context.Context) ([]presence.Status, error) {
	return s.changed(ctx, `SELECT user_id, presence, status_msg, last_active_ts, stream_pos FROM presence
		WHERE presence <> $1 ORDER BY stream_pos`, []any{presence.Offline})
}

// ChangedBetween lists every status stored at a position in (since, to].
func (s *PresenceStore) ChangedBetween(ctx context.Context, since, to int64) ([]presence.Status, error) {
	return s.changed(ctx, `SELECT user_id, presence, status_msg, last_active_ts, stream_pos FROM presence
		WHERE stream_pos > $1 AND stream_pos <= $2 ORDER BY stream_pos`, []any{since, to})
}

func (s *PresenceStore) changed(ctx context.Context, query string, args []any) ([]presence.Status, error) {
	rows, err := s.db.Read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []presence.Status
	for rows.Next() {
		var st presence.Status
		var msg sql.NullString
		if err := rows.Scan(&st.UserID, &st.Presence, &msg, &st.LastActiveTS, &st.StreamPos); err != nil {
			return nil, err
		}
		if msg.Valid {
			st.StatusMsg = &msg.String
		}
		out = append(out, st)
	}
	return out, rows.Err()
}
