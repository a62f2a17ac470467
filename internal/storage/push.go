package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"foyer/internal/push"
)

// PushStore implements push.Store.
type PushStore struct{ db *DB }

// NewPushStore returns the push rules and pushers store over db.
func NewPushStore(db *DB) *PushStore { return &PushStore{db: db} }

var _ push.Store = (*PushStore)(nil)

func (s *PushStore) UserRules(ctx context.Context, userID string) ([]byte, int64, error) {
	var doc string
	var pos int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT rules, stream_pos FROM push_rules WHERE user_id = $1`, userID).Scan(&doc, &pos)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return []byte(doc), pos, nil
}

// PutUserRules keeps a row written at a later position when an
// earlier-reserved write commits after it.
func (s *PushStore) PutUserRules(ctx context.Context, userID string, doc []byte, pos int64) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO push_rules (user_id, rules, stream_pos) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET rules = excluded.rules, stream_pos = excluded.stream_pos
		WHERE push_rules.stream_pos < excluded.stream_pos`, userID, string(doc), pos)
	return err
}

const pusherColumns = `user_id, device_id, pushkey, kind, app_id, app_display_name, device_display_name, profile_tag, lang, data, created_ts`

func (s *PushStore) Pushers(ctx context.Context, userID string) ([]push.Pusher, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+pusherColumns+` FROM pushers WHERE user_id = $1
		ORDER BY created_ts, app_id, pushkey`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []push.Pusher
	for rows.Next() {
		var p push.Pusher
		var data string
		if err := rows.Scan(&p.UserID, &p.DeviceID, &p.PushKey, &p.Kind, &p.AppID, &p.AppDisplayName,
			&p.DeviceDisplayName, &p.ProfileTag, &p.Lang, &data, &p.CreatedTS); err != nil {
			return nil, err
		}
		p.Data = json.RawMessage(data)
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *PushStore) PutPusher(ctx context.Context, p push.Pusher, exclusive bool) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if exclusive {
			// The other users' queues for the pushkey go with their pushers.
			if _, err := tx.ExecContext(ctx, `DELETE FROM push_queue WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3`,
				p.AppID, p.PushKey, p.UserID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3`,
				p.AppID, p.PushKey, p.UserID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO pushers (`+pusherColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET
				device_id = excluded.device_id, kind = excluded.kind,
				app_display_name = excluded.app_display_name, device_display_name = excluded.device_display_name,
				profile_tag = excluded.profile_tag, lang = excluded.lang, data = excluded.data`,
			p.UserID, p.DeviceID, p.PushKey, p.Kind, p.AppID, p.AppDisplayName, p.DeviceDisplayName,
			p.ProfileTag, p.Lang, string(p.Data), p.CreatedTS)
		return err
	})
}

// DeletePusher removes the pusher and what it still had to send.
func (s *PushStore) DeletePusher(ctx context.Context, userID, appID, pushKey string) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM push_queue WHERE user_id = $1 AND app_id = $2 AND pushkey = $3`,
			userID, appID, pushKey); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3`,
			userID, appID, pushKey)
		return err
	})
}
