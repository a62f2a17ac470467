package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"foyer/internal/accounts"
)

// AccountStore implements accounts.Store.
type AccountStore struct {
	db *DB
	// deviceLists records a device-list change whenever devices are
	// deleted (e2ee.go).
	deviceLists deviceListTracker
}

// NewAccountStore returns the accounts store over db. Deleting devices
// records a device-list change at a position taken from positions.
func NewAccountStore(db *DB, positions Positions) *AccountStore {
	return &AccountStore{db: db, deviceLists: deviceListTracker{positions: positions}}
}

var _ accounts.Store = (*AccountStore)(nil)

func (s *AccountStore) NextGuestNumber(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.Write.QueryRowContext(ctx,
		`UPDATE counters SET value = value + 1 WHERE name = 'guest_localpart' RETURNING value`).Scan(&n)
	return n, err
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func (s *AccountStore) CreateAccount(ctx context.Context, a accounts.NewAccount) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		u := a.User
		if a.RenameOf != "" {
			// First, so the guest's row is locked before anything else,
			// as UpgradeGuest does.
			var deviceID string
			if a.Device != nil {
				deviceID = a.Device.DeviceID
			}
			if err := claimGuestForRename(ctx, tx, a.RenameOf, u.UserID, deviceID, u.CreatedTS); err != nil {
				return err
			}
		}
		if a.RegistrationToken != "" {
			if err := consumeRegistrationToken(ctx, tx, a.RegistrationToken, u.CreatedTS); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users
			(user_id, localpart, kind, password_hash, is_admin, deactivated, created_ts, last_seen_ts)
			VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7)`,
			u.UserID, u.Localpart, string(u.Kind), nullString(u.PasswordHash), u.IsAdmin, u.CreatedTS, u.LastSeenTS)
		if IsUniqueViolation(err) {
			return accounts.ErrUserInUse
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO profiles (user_id, displayname) VALUES ($1, $2)`,
			u.UserID, nullString(a.DisplayName)); err != nil {
			return err
		}
		if a.Device != nil {
			return addLogin(ctx, tx, *a.Device, a.Tokens)
		}
		return nil
	})
}

func consumeRegistrationToken(ctx context.Context, tx *sql.Tx, token string, now int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE registration_tokens SET completed = completed + 1
		WHERE token = $1 AND (uses_allowed IS NULL OR completed < uses_allowed)
		AND (expiry_ts IS NULL OR expiry_ts > $2)`, token, now)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return accounts.ErrTokenExhausted
	}
	return nil
}

func (s *AccountStore) UpgradeGuest(ctx context.Context, u accounts.Upgrade) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		// One conditional write on the guest's row decides the upgrade:
		// of an upgrade and a rename upgrade of the same guest at once
		// (claimGuestForRename sets upgraded_ts on the same row), only one
		// matches, on both databases.
		res, err := tx.ExecContext(ctx, `UPDATE users SET kind = $1, password_hash = $2, upgraded_ts = last_seen_ts
			WHERE user_id = $3 AND kind = $4 AND NOT deactivated AND upgraded_ts IS NULL`,
			string(u.Kind), nullString(u.PasswordHash), u.UserID, string(accounts.KindGuest))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return accounts.ErrNotGuest
		}
		if u.RegistrationToken != "" {
			var now int64
			if u.Device != nil {
				now = u.Device.LastSeenTS
			}
			if err := consumeRegistrationToken(ctx, tx, u.RegistrationToken, now); err != nil {
				return err
			}
		}
		if u.Device == nil {
			// inhibit_login: no new token, so the guest's stays, or the
			// account would have no way in.
			return nil
		}
		// The token the upgrade returns replaces the guest's: a guest
		// token must not outlive the guest as a full credential (it
		// could, for one, set a named guest's first password).
		for _, q := range []string{
			`DELETE FROM access_tokens WHERE user_id = $1`,
			`DELETE FROM refresh_tokens WHERE user_id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, u.UserID); err != nil {
				return err
			}
		}
		return addLogin(ctx, tx, *u.Device, u.Tokens)
	})
}

// addLogin creates or keeps the device and adds the tokens. Callers
// remove the tokens the new ones replace.
func addLogin(ctx context.Context, tx *sql.Tx, d accounts.Device, tokens accounts.LoginTokens) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO devices (user_id, device_id, display_name, created_ts, last_seen_ts)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, device_id) DO NOTHING`,
		d.UserID, d.DeviceID, nullString(d.DisplayName), d.LastSeenTS, d.LastSeenTS)
	if err != nil {
		return err
	}
	if d.DisplayName != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET display_name = $1 WHERE user_id = $2 AND device_id = $3`,
			d.DisplayName, d.UserID, d.DeviceID); err != nil {
			return err
		}
	}
	return insertTokens(ctx, tx, d.UserID, d.DeviceID, tokens, d.LastSeenTS)
}

func (s *AccountStore) AddLogin(ctx context.Context, d accounts.Device, tokens accounts.LoginTokens) error {
	// A new login may be a new device: room-mates re-query its keys.
	return s.withDeviceListChange(ctx, d.UserID, func(tx *sql.Tx) error {
		if err := s.lockDevice(ctx, tx, d.UserID, d.DeviceID); err != nil {
			return err
		}
		// The device's earlier tokens go, its refresh token chain too:
		// one chain per device.
		for _, q := range []string{
			`DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2`,
			`DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2`,
		} {
			if _, err := tx.ExecContext(ctx, q, d.UserID, d.DeviceID); err != nil {
				return err
			}
		}
		return addLogin(ctx, tx, d, tokens)
	})
}

const userColumns = `user_id, localpart, kind, COALESCE(password_hash, ''), is_admin, deactivated, created_ts, last_seen_ts`

func scanUser(row interface{ Scan(...any) error }) (accounts.User, error) {
	var u accounts.User
	var kind string
	err := row.Scan(&u.UserID, &u.Localpart, &kind, &u.PasswordHash, &u.IsAdmin, &u.Deactivated, &u.CreatedTS, &u.LastSeenTS)
	if errors.Is(err, sql.ErrNoRows) {
		return u, accounts.ErrNotFound
	}
	u.Kind = accounts.Kind(kind)
	return u, err
}

func (s *AccountStore) GetUser(ctx context.Context, userID string) (accounts.User, error) {
	return scanUser(s.db.Read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE user_id = $1`, userID))
}

func (s *AccountStore) SessionByTokenHash(ctx context.Context, hash string) (accounts.TokenSession, error) {
	var ts accounts.TokenSession
	var kind string
	err := s.db.Read.QueryRowContext(ctx, `SELECT t.user_id, t.device_id, u.kind, u.is_admin, COALESCE(t.expires_ts, 0),
			CASE WHEN t.refresh_token_hash IS NOT NULL AND NOT t.used THEN 1 ELSE 0 END
		FROM access_tokens t JOIN users u ON u.user_id = t.user_id
		WHERE t.token_hash = $1 AND NOT u.deactivated`, hash).Scan(&ts.UserID, &ts.DeviceID, &kind, &ts.IsAdmin, &ts.ExpiresTS, &ts.FirstUse)
	if errors.Is(err, sql.ErrNoRows) {
		return ts, accounts.ErrNotFound
	}
	ts.Kind = accounts.Kind(kind)
	return ts, err
}

const deviceColumns = `user_id, device_id, COALESCE(display_name, ''), COALESCE(last_seen_ts, 0), COALESCE(last_seen_ip, ''),
	COALESCE(last_seen_user_agent, '')`

func scanDevice(row interface{ Scan(...any) error }) (accounts.Device, error) {
	var d accounts.Device
	err := row.Scan(&d.UserID, &d.DeviceID, &d.DisplayName, &d.LastSeenTS, &d.LastSeenIP, &d.LastSeenUserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return d, accounts.ErrNotFound
	}
	return d, err
}

func (s *AccountStore) ListDevices(ctx context.Context, userID string) ([]accounts.Device, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 ORDER BY device_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []accounts.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *AccountStore) GetDevice(ctx context.Context, userID, deviceID string) (accounts.Device, error) {
	return scanDevice(s.db.Read.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 AND device_id = $2`, userID, deviceID))
}

// RenameDevice is a device-list change too: others see the name in
// /keys/query.
func (s *AccountStore) RenameDevice(ctx context.Context, userID, deviceID, displayName string) error {
	return s.withDeviceListChange(ctx, userID, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE devices SET display_name = $1 WHERE user_id = $2 AND device_id = $3`,
			nullString(displayName), userID, deviceID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return accounts.ErrNotFound
		}
		return nil
	})
}

func (s *AccountStore) DeleteDevices(ctx context.Context, userID string, deviceIDs []string) error {
	return s.withDeviceListChange(ctx, userID, func(tx *sql.Tx) error {
		for _, id := range deviceIDs {
			if err := deleteDevice(ctx, tx, userID, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// deleteDevice removes one device and everything bound to it. Later
// areas (keys, to-device) add their tables here.
func deleteDevice(ctx context.Context, tx *sql.Tx, userID, deviceID string) error {
	// What the device's pushers still had queued goes before them.
	if _, err := tx.ExecContext(ctx, `DELETE FROM push_queue WHERE user_id = $1 AND EXISTS (SELECT 1 FROM pushers p
		WHERE p.user_id = $2 AND p.device_id = $3 AND p.app_id = push_queue.app_id AND p.pushkey = push_queue.pushkey)`,
		userID, userID, deviceID); err != nil {
		return fmt.Errorf("deleting device: %w", err)
	}
	for _, q := range []string{
		// The device's row first: changes to its tokens lock it before
		// them (lockDevice), so a refresh under way and the deletion take
		// turns.
		`DELETE FROM devices WHERE user_id = $1 AND device_id = $2`,
		`DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2`,
		`DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2`,
		// End-to-end encryption (e2ee.go): the device's keys and the
		// to-device messages waiting for it.
		`DELETE FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2`,
		`DELETE FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2`,
		`DELETE FROM e2e_fallback_keys WHERE user_id = $1 AND device_id = $2`,
		`DELETE FROM e2e_signatures WHERE target_user_id = $1 AND target_key_id = $2`,
		`DELETE FROM to_device_messages WHERE user_id = $1 AND device_id = $2`,
		`DELETE FROM to_device_txns WHERE user_id = $1 AND device_id = $2`,
		// A logged-out device must not keep receiving notifications.
		`DELETE FROM pushers WHERE user_id = $1 AND device_id = $2`,
		// Peeks belong to the device that made them.
		`DELETE FROM room_peeks WHERE user_id = $1 AND device_id = $2`,
	} {
		if _, err := tx.ExecContext(ctx, q, userID, deviceID); err != nil {
			return fmt.Errorf("deleting device: %w", err)
		}
	}
	return nil
}

func (s *AccountStore) DeleteOtherDevices(ctx context.Context, userID, keep string) error {
	return s.withDeviceListChange(ctx, userID, func(tx *sql.Tx) error {
		return deleteDevicesExcept(ctx, tx, userID, keep)
	})
}

// deleteDevicesExcept removes every device of the user but keep ("" for
// none) with all that is bound to them.
func deleteDevicesExcept(ctx context.Context, tx *sql.Tx, userID, keep string) error {
	ids, err := collectStrings(tx.QueryContext(ctx, `SELECT device_id FROM devices WHERE user_id = $1 AND device_id <> $2`, userID, keep))
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := deleteDevice(ctx, tx, userID, id); err != nil {
			return err
		}
	}
	// Tokens whose device row is gone (none should exist) go too.
	for _, q := range []string{
		`DELETE FROM access_tokens WHERE user_id = $1 AND device_id <> $2`,
		`DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id <> $2`,
	} {
		if _, err := tx.ExecContext(ctx, q, userID, keep); err != nil {
			return err
		}
	}
	return nil
}

func (s *AccountStore) TouchDevice(ctx context.Context, userID, deviceID, ip, userAgent string, ts int64) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET last_seen_ts = $1, last_seen_ip = $2, last_seen_user_agent = $3
			WHERE user_id = $4 AND device_id = $5`,
			ts, ip, userAgent, userID, deviceID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE users SET last_seen_ts = $1 WHERE user_id = $2 AND last_seen_ts < $3`, ts, userID, ts)
		return err
	})
}

func (s *AccountStore) SetPassword(ctx context.Context, userID, hash string, kind accounts.Kind, logOutOthers bool, keep string) error {
	set := func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, kind = $2 WHERE user_id = $3 AND kind <> 'guest'`,
			hash, string(kind), userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return accounts.ErrNotFound
		}
		if logOutOthers {
			return deleteDevicesExcept(ctx, tx, userID, keep)
		}
		return nil
	}
	if logOutOthers {
		// Devices go: a device-list change for the user's room-mates.
		return s.withDeviceListChange(ctx, userID, set)
	}
	return s.db.WithTx(ctx, set)
}

func (s *AccountStore) Deactivate(ctx context.Context, userID string, erasedTS int64) error {
	return s.withDeviceListChange(ctx, userID, func(tx *sql.Tx) error {
		if err := deleteUserE2EE(ctx, tx, userID); err != nil {
			return err
		}
		if erasedTS > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO erased_users (user_id, erased_ts) VALUES ($1, $2)
				ON CONFLICT (user_id) DO NOTHING`, userID, erasedTS); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET deactivated = TRUE, password_hash = NULL WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE profiles SET displayname = NULL, avatar_url = NULL WHERE user_id = $1`, userID); err != nil {
			return err
		}
		// Every device goes with all that is bound to it (deleteDevice's
		// list); pushers too, including any registered without a device.
		if _, err := tx.ExecContext(ctx, `DELETE FROM pushers WHERE user_id = $1`, userID); err != nil {
			return err
		}
		return deleteDevicesExcept(ctx, tx, userID, "")
	})
}

// ErasedAmong returns which of userIDs asked for their messages to be
// erased.
func (s *AccountStore) ErasedAmong(ctx context.Context, userIDs []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(userIDs) == 0 {
		return out, nil
	}
	var p placeholders
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id FROM erased_users WHERE user_id IN (`+p.list(s.db.Dialect, userIDs)+`)`, p.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

func (s *AccountStore) CreateRegistrationToken(ctx context.Context, t accounts.RegistrationToken) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO registration_tokens (token, uses_allowed, completed, expiry_ts, created_ts)
		VALUES ($1, $2, 0, $3, $4)`, t.Token, t.UsesAllowed, t.ExpiryTS, t.CreatedTS)
	return err
}

func (s *AccountStore) RegistrationTokenUsable(ctx context.Context, token string, now int64) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM registration_tokens
		WHERE token = $1 AND (uses_allowed IS NULL OR completed < uses_allowed)
		AND (expiry_ts IS NULL OR expiry_ts > $2)`, token, now).Scan(&n)
	return n > 0, err
}

func (s *AccountStore) GetProfile(ctx context.Context, userID string) (accounts.Profile, error) {
	var p accounts.Profile
	err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(displayname, ''), COALESCE(avatar_url, '') FROM profiles WHERE user_id = $1`,
		userID).Scan(&p.DisplayName, &p.AvatarURL)
	if errors.Is(err, sql.ErrNoRows) {
		return p, accounts.ErrNotFound
	}
	return p, err
}

func (s *AccountStore) SetDisplayName(ctx context.Context, userID, name string) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE profiles SET displayname = $1 WHERE user_id = $2`, nullString(name), userID)
	return err
}

func (s *AccountStore) SetAvatarURL(ctx context.Context, userID, url string) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE profiles SET avatar_url = $1 WHERE user_id = $2`, nullString(url), userID)
	return err
}
