package storage

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"foyer/internal/e2ee"
)

// E2EEStore implements e2ee.Store.
type E2EEStore struct{ db *DB }

// NewE2EEStore returns the end-to-end encryption store over db.
func NewE2EEStore(db *DB) *E2EEStore { return &E2EEStore{db: db} }

var _ e2ee.Store = (*E2EEStore)(nil)

// recordDeviceListChange moves a user's entry in the device-list log to
// pos (never backwards).
func (db *DB) recordDeviceListChange(ctx context.Context, tx *sql.Tx, userID, visibleTo string, pos int64) error {
	// Before the commit, so no sync reads the change without knowing of it.
	db.deviceLists.record(pos)
	_, err := tx.ExecContext(ctx, `INSERT INTO device_list_changes (user_id, visible_to, stream_pos) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, visible_to) DO UPDATE SET stream_pos = excluded.stream_pos
		WHERE device_list_changes.stream_pos < excluded.stream_pos`, userID, visibleTo, pos)
	if err != nil {
		return fmt.Errorf("recording a device-list change: %w", err)
	}
	return nil
}

// Positions hands out stream positions (Stream).
type Positions interface {
	Reserve(context.Context) (int64, func(), error)
}

// deviceListTracker records a device-list change whenever the account
// store deletes devices (logout, DELETE /devices, deactivation), and
// tells its listeners (e2ee, so room-mates' syncs wake).
type deviceListTracker struct {
	positions Positions

	mu        sync.RWMutex
	listeners []func(userID string, pos int64)
}

// OnDeviceListChange registers f to hear of each device-list change the
// store records, once committed. It is registration rather than a
// constructor argument because the listener (e2ee) itself needs this
// store to list devices.
func (s *AccountStore) OnDeviceListChange(f func(userID string, pos int64)) {
	t := &s.deviceLists
	t.mu.Lock()
	t.listeners = append(t.listeners, f)
	t.mu.Unlock()
}

// withDeviceListChange runs fn in a write transaction that also records
// a device-list change of userID at a fresh stream position.
func (s *AccountStore) withDeviceListChange(ctx context.Context, userID string, fn func(tx *sql.Tx) error) error {
	t := &s.deviceLists
	pos, done, err := t.positions.Reserve(ctx)
	if err != nil {
		return err
	}
	err = s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return s.db.recordDeviceListChange(ctx, tx, userID, "", pos)
	})
	// Devices may have gone with their keys.
	s.db.keyCounts.forgetUser(userID)
	done()
	if err == nil {
		t.mu.RLock()
		listeners := t.listeners
		t.mu.RUnlock()
		for _, f := range listeners {
			f(userID, pos)
		}
	}
	return err
}

// deleteUserE2EE removes every key, message and backup of a user (on
// deactivation).
func deleteUserE2EE(ctx context.Context, tx *sql.Tx, userID string) error {
	for _, q := range []string{
		`DELETE FROM e2e_device_keys WHERE user_id = $1`,
		`DELETE FROM e2e_one_time_keys WHERE user_id = $1`,
		`DELETE FROM e2e_fallback_keys WHERE user_id = $1`,
		`DELETE FROM e2e_cross_signing_keys WHERE user_id = $1`,
		`DELETE FROM e2e_signatures WHERE target_user_id = $1 OR signer_user_id = $1`,
		`DELETE FROM to_device_messages WHERE user_id = $1`,
		`DELETE FROM to_device_txns WHERE user_id = $1`,
		`DELETE FROM e2e_room_keys WHERE user_id = $1`,
		`UPDATE e2e_room_key_versions SET deleted = TRUE WHERE user_id = $1`,
	} {
		if _, err := tx.ExecContext(ctx, q, userID); err != nil {
			return fmt.Errorf("deleting the user's keys: %w", err)
		}
	}
	return nil
}

func (s *E2EEStore) UploadKeys(ctx context.Context, u e2ee.KeyUpload) (bool, error) {
	changed := false
	defer s.db.keyCounts.forgetDevice(u.UserID, u.DeviceID)
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		changed = false
		caps, guest, err := s.db.lockAccount(ctx, tx, u.UserID)
		if err != nil {
			return err
		}
		if u.DeviceKeys != nil {
			var old string
			err := tx.QueryRowContext(ctx, `SELECT key_json FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2`,
				u.UserID, u.DeviceID).Scan(&old)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if old != string(u.DeviceKeys) {
				if _, err := tx.ExecContext(ctx, `INSERT INTO e2e_device_keys (user_id, device_id, key_json) VALUES ($1, $2, $3)
					ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json`,
					u.UserID, u.DeviceID, string(u.DeviceKeys)); err != nil {
					return err
				}
				if err := s.db.recordDeviceListChange(ctx, tx, u.UserID, "", u.Pos); err != nil {
					return err
				}
				changed = true
			}
		}
		var seq int64
		if len(u.OneTime) > 0 {
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(upload_seq), 0) + 1 FROM e2e_one_time_keys
				WHERE user_id = $1 AND device_id = $2`, u.UserID, u.DeviceID).Scan(&seq); err != nil {
				return err
			}
		}
		for _, k := range u.OneTime {
			res, err := tx.ExecContext(ctx, `INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json, upload_seq)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING`,
				u.UserID, u.DeviceID, k.Algorithm, k.KeyID, string(k.Key), seq)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				var old string
				if err := tx.QueryRowContext(ctx, `SELECT key_json FROM e2e_one_time_keys
					WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 AND key_id = $4`,
					u.UserID, u.DeviceID, k.Algorithm, k.KeyID).Scan(&old); err != nil {
					return err
				}
				if !e2ee.SameKeyButSignatures(json.RawMessage(old), k.Key) {
					return e2ee.ErrKeyConflict
				}
			}
		}
		if max := caps.OneTimeKeysPerDevice; max > 0 && len(u.OneTime) > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2`,
				u.UserID, u.DeviceID).Scan(&n); err != nil {
				return err
			}
			if n > max {
				return s.db.overCap(guest, "this device would hold %d unclaimed one-time keys, more than the %d it may hold", n, max)
			}
		}
		for _, k := range u.Fallback {
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)
				VALUES ($1, $2, $3, $4, $5, FALSE)
				ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id = excluded.key_id, key_json = excluded.key_json,
					used = CASE WHEN e2e_fallback_keys.key_id = excluded.key_id AND e2e_fallback_keys.key_json = excluded.key_json
						THEN e2e_fallback_keys.used ELSE FALSE END`,
				u.UserID, u.DeviceID, k.Algorithm, k.KeyID, string(k.Key)); err != nil {
				return err
			}
		}
		return nil
	})
	return changed, err
}

func (s *E2EEStore) DeviceKeys(ctx context.Context, userID, deviceID string) (json.RawMessage, error) {
	var raw string
	err := s.db.Read.QueryRowContext(ctx, `SELECT key_json FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2`,
		userID, deviceID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, e2ee.ErrNotFound
	}
	return json.RawMessage(raw), err
}

func (s *E2EEStore) OneTimeKeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, error) {
	if counts, ok := s.db.keyCounts.oneTime(userID, deviceID); ok {
		return counts, nil
	}
	gen := s.db.keyCounts.begin()
	rows, err := s.db.Read.QueryContext(ctx, `SELECT algorithm, COUNT(*) FROM e2e_one_time_keys
		WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm`, userID, deviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var alg string
		var n int
		if err := rows.Scan(&alg, &n); err != nil {
			return nil, err
		}
		out[alg] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.db.keyCounts.storeOneTime(gen, userID, deviceID, out)
	return out, nil
}

func (s *E2EEStore) UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error) {
	if types, ok := s.db.keyCounts.fallback(userID, deviceID); ok {
		return types, nil
	}
	gen := s.db.keyCounts.begin()
	types, err := collectStrings(s.db.Read.QueryContext(ctx, `SELECT algorithm FROM e2e_fallback_keys
		WHERE user_id = $1 AND device_id = $2 AND NOT used ORDER BY algorithm`, userID, deviceID))
	if err != nil {
		return nil, err
	}
	s.db.keyCounts.storeFallback(gen, userID, deviceID, types)
	return types, nil
}

func (s *E2EEStore) QueryDeviceKeys(ctx context.Context, userIDs []string) ([]e2ee.StoredDeviceKeys, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	var p placeholders
	rows, err := s.db.Read.QueryContext(ctx, `SELECT k.user_id, k.device_id, k.key_json, COALESCE(d.display_name, '')
		FROM e2e_device_keys k JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
		WHERE k.user_id IN (`+p.list(s.db.Dialect, userIDs)+`) ORDER BY k.user_id, k.device_id`, p.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []e2ee.StoredDeviceKeys
	for rows.Next() {
		var d e2ee.StoredDeviceKeys
		var raw string
		if err := rows.Scan(&d.UserID, &d.DeviceID, &raw, &d.DisplayName); err != nil {
			return nil, err
		}
		d.Keys = json.RawMessage(raw)
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimKey takes the oldest upload's one-time key (MSC4225) with a single DELETE ... RETURNING on
// the writer, so concurrent claims never get the same key: on SQLite the
// one writer connection serialises them; on PostgreSQL SKIP LOCKED sends
// a concurrent claim to the next free row instead of failing on a row
// another claim is deleting.
func (s *E2EEStore) ClaimKey(ctx context.Context, userID, deviceID, algorithm string) (e2ee.OneTimeKey, error) {
	k := e2ee.OneTimeKey{Algorithm: algorithm}
	defer s.db.keyCounts.forgetDevice(userID, deviceID)
	var q string
	if s.db.Dialect == Postgres {
		q = `DELETE FROM e2e_one_time_keys WHERE (user_id, device_id, algorithm, key_id) IN (
			SELECT user_id, device_id, algorithm, key_id FROM e2e_one_time_keys
			WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 ORDER BY upload_seq, key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
			RETURNING key_id, key_json`
	} else {
		q = `DELETE FROM e2e_one_time_keys WHERE rowid = (
			SELECT rowid FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 ORDER BY upload_seq, key_id LIMIT 1)
			RETURNING key_id, key_json`
	}
	var raw string
	err := s.db.Write.QueryRowContext(ctx, q, userID, deviceID, algorithm).Scan(&k.KeyID, &raw)
	if err == nil {
		k.Key = json.RawMessage(raw)
		return k, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return k, err
	}
	err = s.db.Write.QueryRowContext(ctx, `UPDATE e2e_fallback_keys SET used = TRUE
		WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 RETURNING key_id, key_json`,
		userID, deviceID, algorithm).Scan(&k.KeyID, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return k, e2ee.ErrNoKey
	}
	k.Key = json.RawMessage(raw)
	return k, err
}

func (s *E2EEStore) CrossSigningKeys(ctx context.Context, userIDs []string) ([]e2ee.CrossSigningKey, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	var p placeholders
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, key_type, public_key, key_json FROM e2e_cross_signing_keys
		WHERE user_id IN (`+p.list(s.db.Dialect, userIDs)+`) ORDER BY user_id, key_type`, p.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []e2ee.CrossSigningKey
	for rows.Next() {
		var k e2ee.CrossSigningKey
		var raw string
		if err := rows.Scan(&k.UserID, &k.Type, &k.PublicKey, &raw); err != nil {
			return nil, err
		}
		k.Keys = json.RawMessage(raw)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *E2EEStore) PutCrossSigningKeys(ctx context.Context, userID string, keys []e2ee.CrossSigningKey, pos int64) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json)
				VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, key_type) DO UPDATE SET public_key = excluded.public_key, key_json = excluded.key_json`,
				userID, k.Type, k.PublicKey, string(k.Keys)); err != nil {
				return err
			}
		}
		return s.db.recordDeviceListChange(ctx, tx, userID, e2ee.CrossSigningChangeVisibleTo(userID, keys), pos)
	})
}

func (s *E2EEStore) Signatures(ctx context.Context, targetUserIDs []string) ([]e2ee.Signature, error) {
	if len(targetUserIDs) == 0 {
		return nil, nil
	}
	var p placeholders
	rows, err := s.db.Read.QueryContext(ctx, `SELECT target_user_id, target_key_id, signer_user_id, signer_key_id, signature
		FROM e2e_signatures WHERE target_user_id IN (`+p.list(s.db.Dialect, targetUserIDs)+`)
		ORDER BY target_user_id, target_key_id, signer_user_id, signer_key_id`, p.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []e2ee.Signature
	for rows.Next() {
		var sg e2ee.Signature
		if err := rows.Scan(&sg.TargetUserID, &sg.TargetKeyID, &sg.SignerUserID, &sg.SignerKeyID, &sg.Signature); err != nil {
			return nil, err
		}
		out = append(out, sg)
	}
	return out, rows.Err()
}

func (s *E2EEStore) PutSignatures(ctx context.Context, sigs []e2ee.Signature, changes []e2ee.DeviceListChange) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, sg := range sigs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2e_signatures (target_user_id, target_key_id, signer_user_id, signer_key_id, signature)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id)
				DO UPDATE SET signature = excluded.signature`,
				sg.TargetUserID, sg.TargetKeyID, sg.SignerUserID, sg.SignerKeyID, sg.Signature); err != nil {
				return err
			}
		}
		for _, c := range changes {
			if err := s.db.recordDeviceListChange(ctx, tx, c.UserID, c.VisibleTo, c.Pos); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *E2EEStore) DeviceListChanges(ctx context.Context, users []string, viewer string, since, to int64) ([]string, error) {
	p := placeholders{args: []any{since, to, viewer}}
	q := `SELECT DISTINCT user_id FROM device_list_changes WHERE stream_pos > $1 AND stream_pos <= $2 AND (visible_to = $3`
	switch {
	case users == nil:
		// Anyone's public changes; the caller filters.
		q += ` OR visible_to = ''`
	case len(users) > 0:
		q += ` OR (visible_to = '' AND user_id IN (` + p.list(s.db.Dialect, users) + `))`
	}
	return collectStrings(s.db.Read.QueryContext(ctx, q+`) ORDER BY user_id`, p.args...))
}

func (s *E2EEStore) MemberChanges(ctx context.Context, userID string, since, to int64) ([]e2ee.MemberChange, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT e.room_id, e.state_key, COALESCE(e.membership, ''), COALESCE(p.membership, '')
		FROM events e LEFT JOIN events p ON p.event_id = e.replaces_state
		WHERE e.type = 'm.room.member' AND e.stream_pos > $1 AND e.stream_pos <= $2
		AND e.room_id IN (SELECT c.room_id FROM current_state c
			WHERE c.type = 'm.room.member' AND c.state_key = $3 AND (c.membership = 'join' OR c.stream_pos > $4))
		ORDER BY e.stream_pos`, since, to, userID, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []e2ee.MemberChange
	for rows.Next() {
		var m e2ee.MemberChange
		if err := rows.Scan(&m.RoomID, &m.UserID, &m.Membership, &m.PrevMembership); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *E2EEStore) JoinedMembers(ctx context.Context, roomID string) ([]string, error) {
	return collectStrings(s.db.Read.QueryContext(ctx, `SELECT state_key FROM current_state
		WHERE room_id = $1 AND type = 'm.room.member' AND membership = 'join' ORDER BY state_key`, roomID))
}

func (s *E2EEStore) SendToDevice(ctx context.Context, txn e2ee.ToDeviceTxn, msgs []e2ee.ToDeviceMessage, pos, maxPendingBytes int64) (bool, error) {
	dup := false
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO to_device_txns (user_id, device_id, txn_id, stream_pos) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id, device_id, txn_id) DO NOTHING`, txn.UserID, txn.DeviceID, txn.TxnID, pos)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			dup = true
			return nil
		}
		if maxPendingBytes > 0 {
			if err := s.checkQueues(ctx, tx, msgs, maxPendingBytes); err != nil {
				return err
			}
		}
		for _, m := range msgs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO to_device_messages (user_id, device_id, stream_pos, sender, type, content, size_bytes)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, m.UserID, m.DeviceID, pos, m.Sender, m.Type, string(m.Content), m.Bytes); err != nil {
				return err
			}
		}
		return nil
	})
	return dup, err
}

// checkQueues refuses msgs with a *e2ee.QueueFullError when they would
// take a device's pending messages beyond maxBytes. The recipients'
// accounts stay locked until tx ends, so two concurrent sends cannot
// both take a device's last free bytes.
func (s *E2EEStore) checkQueues(ctx context.Context, tx *sql.Tx, msgs []e2ee.ToDeviceMessage, maxBytes int64) error {
	type device struct{ userID, deviceID string }
	adding := map[device]int64{}
	seen := map[string]bool{}
	var users []string
	for _, m := range msgs {
		if !seen[m.UserID] {
			seen[m.UserID] = true
			users = append(users, m.UserID)
		}
		adding[device{m.UserID, m.DeviceID}] += m.Bytes
	}
	slices.Sort(users)
	if err := s.db.lockAccounts(ctx, tx, users); err != nil {
		return err
	}
	pending := map[device]int64{}
	for start := 0; start < len(users); start += maxInArgs {
		chunk := users[start:min(start+maxInArgs, len(users))]
		p := placeholders{}
		rows, err := tx.QueryContext(ctx, `SELECT user_id, device_id, SUM(size_bytes) FROM to_device_messages
			WHERE user_id IN (`+p.list(s.db.Dialect, chunk)+`) GROUP BY user_id, device_id`, p.args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d device
			var n int64
			if err := rows.Scan(&d.userID, &d.deviceID, &n); err != nil {
				rows.Close()
				return err
			}
			pending[d] = n
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	// The first full device in order is the one named, whatever the
	// map's order.
	devices := make([]device, 0, len(adding))
	for d := range adding {
		devices = append(devices, d)
	}
	slices.SortFunc(devices, func(a, b device) int {
		return cmp.Or(cmp.Compare(a.userID, b.userID), cmp.Compare(a.deviceID, b.deviceID))
	})
	for _, d := range devices {
		if pending[d]+adding[d] > maxBytes {
			return &e2ee.QueueFullError{UserID: d.userID, DeviceID: d.deviceID, PendingBytes: pending[d], MaxBytes: maxBytes}
		}
	}
	return nil
}

func (s *E2EEStore) AckToDevice(ctx context.Context, userID, deviceID string, upTo int64) error {
	// Most syncs have nothing to acknowledge: look on the reader first
	// rather than take the writer for nothing.
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM to_device_messages
		WHERE user_id = $1 AND device_id = $2 AND stream_pos <= $3 LIMIT 1) t`, userID, deviceID, upTo).Scan(&n)
	if err != nil || n == 0 {
		return err
	}
	_, err = s.db.Write.ExecContext(ctx, `DELETE FROM to_device_messages WHERE user_id = $1 AND device_id = $2 AND stream_pos <= $3`,
		userID, deviceID, upTo)
	return err
}

func (s *E2EEStore) PendingToDevice(ctx context.Context, userID, deviceID string, to int64, limit int) ([]e2ee.ToDeviceMessage, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT sender, type, content, stream_pos FROM to_device_messages
		WHERE user_id = $1 AND device_id = $2 AND stream_pos <= $3 ORDER BY stream_pos, id LIMIT $4`, userID, deviceID, to, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []e2ee.ToDeviceMessage
	for rows.Next() {
		m := e2ee.ToDeviceMessage{UserID: userID, DeviceID: deviceID}
		var content string
		if err := rows.Scan(&m.Sender, &m.Type, &content, &m.Pos); err != nil {
			return nil, err
		}
		m.Content = json.RawMessage(content)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *E2EEStore) PendingToDeviceSizes(ctx context.Context, userID, deviceID string, to int64, limit int) ([]e2ee.QueuedToDevice, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT stream_pos, size_bytes FROM to_device_messages
		WHERE user_id = $1 AND device_id = $2 AND stream_pos <= $3 ORDER BY stream_pos, id LIMIT $4`, userID, deviceID, to, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []e2ee.QueuedToDevice
	for rows.Next() {
		var q e2ee.QueuedToDevice
		if err := rows.Scan(&q.Pos, &q.Bytes); err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

func (s *E2EEStore) CreateBackup(ctx context.Context, userID, algorithm string, authData json.RawMessage) (int64, error) {
	var v int64
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM e2e_room_key_versions WHERE user_id = $1`,
			userID).Scan(&v); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO e2e_room_key_versions (user_id, version, algorithm, auth_data) VALUES ($1, $2, $3, $4)`,
			userID, v, algorithm, string(authData))
		return err
	})
	return v, err
}

type e2eeQueryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// getRoomKeyBackup reads a live version (0: the newest) with its key count.
func getRoomKeyBackup(ctx context.Context, q e2eeQueryRower, userID string, version int64) (e2ee.BackupVersion, error) {
	var b e2ee.BackupVersion
	var auth string
	query := `SELECT v.version, v.algorithm, v.auth_data, v.etag,
		(SELECT COUNT(*) FROM e2e_room_keys k WHERE k.user_id = v.user_id AND k.version = v.version)
		FROM e2e_room_key_versions v WHERE v.user_id = $1 AND NOT v.deleted`
	args := []any{userID}
	if version > 0 {
		query += ` AND v.version = $2`
		args = append(args, version)
	} else {
		query += ` ORDER BY v.version DESC LIMIT 1`
	}
	err := q.QueryRowContext(ctx, query, args...).Scan(&b.Version, &b.Algorithm, &auth, &b.ETag, &b.Count)
	if errors.Is(err, sql.ErrNoRows) {
		return b, e2ee.ErrNotFound
	}
	b.AuthData = json.RawMessage(auth)
	return b, err
}

func (s *E2EEStore) GetBackup(ctx context.Context, userID string, version int64) (e2ee.BackupVersion, error) {
	return getRoomKeyBackup(ctx, s.db.Read, userID, version)
}

func (s *E2EEStore) UpdateBackup(ctx context.Context, userID string, version int64, authData json.RawMessage) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE e2e_room_key_versions SET auth_data = $1
		WHERE user_id = $2 AND version = $3 AND NOT deleted`, string(authData), userID, version)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return e2ee.ErrNotFound
	}
	return nil
}

func (s *E2EEStore) DeleteBackup(ctx context.Context, userID string, version int64) (bool, error) {
	existed := false
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE e2e_room_key_versions SET deleted = TRUE WHERE user_id = $1 AND version = $2`, userID, version)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		existed = n > 0
		_, err = tx.ExecContext(ctx, `DELETE FROM e2e_room_keys WHERE user_id = $1 AND version = $2`, userID, version)
		return err
	})
	return existed, err
}

func (s *E2EEStore) PutRoomKeys(ctx context.Context, userID string, version int64, keys []e2ee.RoomKey) (e2ee.BackupVersion, error) {
	var out e2ee.BackupVersion
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		cur, err := getRoomKeyBackup(ctx, tx, userID, 0)
		if errors.Is(err, e2ee.ErrNotFound) || (err == nil && cur.Version < version) {
			return e2ee.ErrNotFound
		}
		if err != nil {
			return err
		}
		if cur.Version != version {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM e2e_room_key_versions WHERE user_id = $1 AND version = $2 AND NOT deleted`,
				userID, version).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return e2ee.ErrNotFound
			}
			return &e2ee.WrongVersionError{Current: strconv.FormatInt(cur.Version, 10)}
		}
		changed := false
		for _, k := range keys {
			var old e2ee.RoomKey
			err := tx.QueryRowContext(ctx, `SELECT first_message_index, forwarded_count, is_verified FROM e2e_room_keys
				WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id = $4`,
				userID, version, k.RoomID, k.SessionID).Scan(&old.FirstMessageIndex, &old.ForwardedCount, &old.IsVerified)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				_, err = tx.ExecContext(ctx, `INSERT INTO e2e_room_keys (user_id, version, room_id, session_id,
					first_message_index, forwarded_count, is_verified, session_data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
					userID, version, k.RoomID, k.SessionID, k.FirstMessageIndex, k.ForwardedCount, k.IsVerified, string(k.SessionData))
			case err != nil:
				return err
			case e2ee.Better(old, k):
				_, err = tx.ExecContext(ctx, `UPDATE e2e_room_keys SET first_message_index = $1, forwarded_count = $2,
					is_verified = $3, session_data = $4 WHERE user_id = $5 AND version = $6 AND room_id = $7 AND session_id = $8`,
					k.FirstMessageIndex, k.ForwardedCount, k.IsVerified, string(k.SessionData), userID, version, k.RoomID, k.SessionID)
			default:
				continue
			}
			if err != nil {
				return err
			}
			changed = true
		}
		out, err = finishRoomKeyWrite(ctx, tx, userID, version, changed)
		return err
	})
	return out, err
}

// finishRoomKeyWrite moves a backup's etag on when its keys changed, and
// reads the backup's state for the answer.
func finishRoomKeyWrite(ctx context.Context, tx *sql.Tx, userID string, version int64, changed bool) (e2ee.BackupVersion, error) {
	if changed {
		if _, err := tx.ExecContext(ctx, `UPDATE e2e_room_key_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2`,
			userID, version); err != nil {
			return e2ee.BackupVersion{}, err
		}
	}
	return getRoomKeyBackup(ctx, tx, userID, version)
}

// roomKeyScope narrows room key queries to a room and session.
func roomKeyScope(roomID, sessionID string, args []any) (string, []any) {
	q := ""
	if roomID != "" {
		args = append(args, roomID)
		q += fmt.Sprintf(" AND room_id = $%d", len(args))
	}
	if sessionID != "" {
		args = append(args, sessionID)
		q += fmt.Sprintf(" AND session_id = $%d", len(args))
	}
	return q, args
}

func (s *E2EEStore) RoomKeys(ctx context.Context, userID string, version int64, roomID, sessionID string) ([]e2ee.RoomKey, error) {
	if _, err := getRoomKeyBackup(ctx, s.db.Read, userID, version); err != nil {
		return nil, err
	}
	scope, args := roomKeyScope(roomID, sessionID, []any{userID, version})
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data
		FROM e2e_room_keys WHERE user_id = $1 AND version = $2`+scope+` ORDER BY room_id, session_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []e2ee.RoomKey
	for rows.Next() {
		var k e2ee.RoomKey
		var data string
		if err := rows.Scan(&k.RoomID, &k.SessionID, &k.FirstMessageIndex, &k.ForwardedCount, &k.IsVerified, &data); err != nil {
			return nil, err
		}
		k.SessionData = json.RawMessage(data)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *E2EEStore) DeleteRoomKeys(ctx context.Context, userID string, version int64, roomID, sessionID string) (e2ee.BackupVersion, error) {
	var out e2ee.BackupVersion
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := getRoomKeyBackup(ctx, tx, userID, version); err != nil {
			return err
		}
		scope, args := roomKeyScope(roomID, sessionID, []any{userID, version})
		res, err := tx.ExecContext(ctx, `DELETE FROM e2e_room_keys WHERE user_id = $1 AND version = $2`+scope, args...)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		out, err = finishRoomKeyWrite(ctx, tx, userID, version, n > 0)
		return err
	})
	return out, err
}
