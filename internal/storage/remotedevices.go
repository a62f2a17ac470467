package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"foyer/internal/e2ee"
)

// RemoteDeviceStore implements e2ee.RemoteDeviceStore: other servers'
// users' device lists, and what was published of local users'.
type RemoteDeviceStore struct{ db *DB }

// NewRemoteDeviceStore returns the store over db.
func NewRemoteDeviceStore(db *DB) *RemoteDeviceStore { return &RemoteDeviceStore{db: db} }

var _ e2ee.RemoteDeviceStore = (*RemoteDeviceStore)(nil)

func nullJSON(raw json.RawMessage) sql.NullString {
	return sql.NullString{String: string(raw), Valid: len(raw) > 0}
}

func (s *RemoteDeviceStore) RemoteDeviceLists(ctx context.Context, userIDs []string) (map[string]e2ee.RemoteDeviceList, error) {
	out := map[string]e2ee.RemoteDeviceList{}
	for start := 0; start < len(userIDs); start += maxInArgs {
		chunk := userIDs[start:min(start+maxInArgs, len(userIDs))]
		p := placeholders{}
		rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, stream_id, stale, master_key, self_signing_key
			FROM remote_device_lists WHERE user_id IN (`+p.list(s.db.Dialect, chunk)+`)`, p.args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var l e2ee.RemoteDeviceList
			var master, ssk sql.NullString
			if err := rows.Scan(&l.UserID, &l.StreamID, &l.Stale, &master, &ssk); err != nil {
				rows.Close()
				return nil, err
			}
			if master.Valid {
				l.MasterKey = json.RawMessage(master.String)
			}
			if ssk.Valid {
				l.SelfSigningKey = json.RawMessage(ssk.String)
			}
			out[l.UserID] = l
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
		p = placeholders{}
		rows, err = s.db.Read.QueryContext(ctx, `SELECT user_id, device_id, COALESCE(display_name, ''), key_json
			FROM remote_device_keys WHERE user_id IN (`+p.list(s.db.Dialect, chunk)+`) ORDER BY user_id, device_id`, p.args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var userID, keys string
			var d e2ee.RemoteDevice
			if err := rows.Scan(&userID, &d.DeviceID, &d.DisplayName, &keys); err != nil {
				rows.Close()
				return nil, err
			}
			d.Keys = json.RawMessage(keys)
			if l, ok := out[userID]; ok {
				l.Devices = append(l.Devices, d)
				out[userID] = l
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *RemoteDeviceStore) ReplaceRemoteDeviceList(ctx context.Context, l e2ee.RemoteDeviceList, pos int64) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO remote_device_lists (user_id, stream_id, stale, master_key, self_signing_key, updated_ts)
			VALUES ($1, $2, FALSE, $3, $4, $5)
			ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id, stale = FALSE,
				master_key = excluded.master_key, self_signing_key = excluded.self_signing_key, updated_ts = excluded.updated_ts`,
			l.UserID, l.StreamID, nullJSON(l.MasterKey), nullJSON(l.SelfSigningKey), time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("storing a remote device list: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM remote_device_keys WHERE user_id = $1`, l.UserID); err != nil {
			return err
		}
		for _, d := range l.Devices {
			if _, err := tx.ExecContext(ctx, `INSERT INTO remote_device_keys (user_id, device_id, display_name, key_json)
				VALUES ($1, $2, $3, $4)`, l.UserID, d.DeviceID, nullString(d.DisplayName), string(d.Keys)); err != nil {
				return fmt.Errorf("storing a remote device: %w", err)
			}
		}
		if pos > 0 {
			return s.db.recordDeviceListChange(ctx, tx, l.UserID, "", pos)
		}
		return nil
	})
}

func (s *RemoteDeviceStore) ApplyRemoteDeviceUpdate(ctx context.Context, u e2ee.RemoteDeviceUpdate, maxDevices int, pos int64) (e2ee.UpdateOutcome, error) {
	outcome := e2ee.UpdateUntracked
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var streamID int64
		var stale bool
		err := tx.QueryRowContext(ctx, `SELECT stream_id, stale FROM remote_device_lists WHERE user_id = $1`, u.UserID).Scan(&streamID, &stale)
		if errors.Is(err, sql.ErrNoRows) {
			outcome = e2ee.UpdateUntracked
			return nil
		}
		if err != nil {
			return err
		}
		if !stale && u.StreamID <= streamID {
			outcome = e2ee.UpdateOld
			return nil
		}
		// An update without prev_id says nothing of what it follows: the
		// list is fetched again, as the reference server does.
		follows := !stale && len(u.PrevIDs) > 0
		for _, prev := range u.PrevIDs {
			if prev != streamID {
				follows = false
			}
		}
		if follows && !u.Deleted && len(u.Keys) > 0 {
			// A new device beyond the cap: the list is fetched again,
			// which keeps the first maxDevices.
			var known, count int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN device_id = $1 THEN 1 ELSE 0 END), 0)
				FROM remote_device_keys WHERE user_id = $2`, u.DeviceID, u.UserID).Scan(&count, &known); err != nil {
				return err
			}
			follows = known > 0 || count < maxDevices
		}
		if !follows {
			outcome = e2ee.UpdateGap
			_, err := tx.ExecContext(ctx, `UPDATE remote_device_lists SET stale = TRUE WHERE user_id = $1`, u.UserID)
			return err
		}
		if u.Deleted {
			if _, err := tx.ExecContext(ctx, `DELETE FROM remote_device_keys WHERE user_id = $1 AND device_id = $2`, u.UserID, u.DeviceID); err != nil {
				return err
			}
		} else if len(u.Keys) > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO remote_device_keys (user_id, device_id, display_name, key_json) VALUES ($1, $2, $3, $4)
				ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = excluded.display_name, key_json = excluded.key_json`,
				u.UserID, u.DeviceID, nullString(u.DisplayName), string(u.Keys)); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, `UPDATE remote_device_keys SET display_name = $1 WHERE user_id = $2 AND device_id = $3`,
			nullString(u.DisplayName), u.UserID, u.DeviceID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE remote_device_lists SET stream_id = $1, updated_ts = $2 WHERE user_id = $3`,
			u.StreamID, time.Now().UnixMilli(), u.UserID); err != nil {
			return err
		}
		outcome = e2ee.UpdateApplied
		return s.db.recordDeviceListChange(ctx, tx, u.UserID, "", pos)
	})
	return outcome, err
}

func (s *RemoteDeviceStore) PutRemoteSigningKeys(ctx context.Context, userID string, master, selfSigning json.RawMessage, pos int64) (bool, error) {
	tracked := false
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE remote_device_lists SET master_key = COALESCE($1, master_key),
			self_signing_key = COALESCE($2, self_signing_key), updated_ts = $3 WHERE user_id = $4`,
			nullJSON(master), nullJSON(selfSigning), time.Now().UnixMilli(), userID)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		tracked = n > 0
		return s.db.recordDeviceListChange(ctx, tx, userID, "", pos)
	})
	return tracked, err
}

func (s *RemoteDeviceStore) MarkRemoteDeviceListStale(ctx context.Context, userID string) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE remote_device_lists SET stale = TRUE WHERE user_id = $1`, userID)
	return err
}

func (s *RemoteDeviceStore) DeleteRemoteDeviceList(ctx context.Context, userID string) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM remote_device_keys WHERE user_id = $1`, userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM remote_device_lists WHERE user_id = $1`, userID)
		return err
	})
}

func (s *RemoteDeviceStore) RecordDeviceListChange(ctx context.Context, userID string, pos int64) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		return s.db.recordDeviceListChange(ctx, tx, userID, "", pos)
	})
}

func (s *RemoteDeviceStore) PublishedDevices(ctx context.Context, userID string) (e2ee.PublishedDevices, error) {
	p := e2ee.PublishedDevices{UserID: userID, Devices: map[string]string{}}
	var devices string
	err := s.db.Read.QueryRowContext(ctx, `SELECT stream_id, devices, signing FROM device_list_published WHERE user_id = $1`, userID).
		Scan(&p.StreamID, &devices, &p.Signing)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(devices), &p.Devices); err != nil {
		return p, fmt.Errorf("reading the published devices of %s: %w", userID, err)
	}
	return p, nil
}

func (s *RemoteDeviceStore) SetPublishedDevices(ctx context.Context, p e2ee.PublishedDevices) error {
	devices, err := json.Marshal(p.Devices)
	if err != nil {
		return err
	}
	_, err = s.db.Write.ExecContext(ctx, `INSERT INTO device_list_published (user_id, stream_id, devices, signing) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id, devices = excluded.devices, signing = excluded.signing`,
		p.UserID, p.StreamID, string(devices), p.Signing)
	return err
}
