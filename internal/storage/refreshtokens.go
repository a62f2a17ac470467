package storage

import (
	"context"
	"database/sql"
	"errors"

	"foyer/internal/accounts"
)

// Refresh tokens: each device has one chain, its current refresh token
// and at most one predecessor kept until the tokens that replaced it are
// first used (accounts/refresh.go has the rules).

// lockDevice takes, on PostgreSQL, the lock of the device's row, which
// every change to the device's tokens takes first (refresh, the first use
// of refreshed tokens, a new login on the device, deleting it): they take
// turns rather than locking token rows in different orders and
// deadlocking. SQLite has one writer.
func (s *AccountStore) lockDevice(ctx context.Context, tx *sql.Tx, userID, deviceID string) error {
	if s.db.Dialect != Postgres {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT 1 FROM devices WHERE user_id = $1 AND device_id = $2 FOR UPDATE`, userID, deviceID)
	if err != nil {
		return err
	}
	return rows.Close()
}

// insertTokens stores a login's access token and, when it has one, its
// refresh token.
func insertTokens(ctx context.Context, tx *sql.Tx, userID, deviceID string, t accounts.LoginTokens, now int64) error {
	if t.AccessHash == "" {
		return nil // a device made without a login (an application service's, MSC4190)
	}
	var expires sql.NullInt64
	if t.RefreshHash != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts)
			VALUES ($1, $2, $3, $4)`, t.RefreshHash, userID, deviceID, now); err != nil {
			return err
		}
		expires = sql.NullInt64{Int64: t.ExpiresTS, Valid: true}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, refresh_token_hash, expires_ts)
		VALUES ($1, $2, $3, $4, $5, $6)`, t.AccessHash, userID, deviceID, now, nullString(t.RefreshHash), expires)
	return err
}

// dropRefreshTokens removes the refresh tokens the query selects (by
// token_hash, with $1) and the access tokens issued with them.
func dropRefreshTokens(ctx context.Context, tx *sql.Tx, where, arg string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE refresh_token_hash IN
		(SELECT token_hash FROM refresh_tokens WHERE `+where+`)`, arg); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE `+where, arg)
	return err
}

func (s *AccountStore) MarkTokenUsed(ctx context.Context, hash string) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var userID, deviceID string
		err := tx.QueryRowContext(ctx, `SELECT user_id, device_id FROM access_tokens WHERE token_hash = $1`, hash).Scan(&userID, &deviceID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // revoked meanwhile
		}
		if err != nil {
			return err
		}
		if err := s.lockDevice(ctx, tx, userID, deviceID); err != nil {
			return err
		}
		var refreshHash string
		err = tx.QueryRowContext(ctx, `UPDATE access_tokens SET used = TRUE
			WHERE token_hash = $1 AND NOT used AND refresh_token_hash IS NOT NULL
			RETURNING refresh_token_hash`, hash).Scan(&refreshHash)
		if errors.Is(err, sql.ErrNoRows) {
			// Another request marked it first, or it is gone.
			return nil
		}
		if err != nil {
			return err
		}
		// The refresh token this pair replaced, and the access token
		// issued with it, are spent now.
		return dropRefreshTokens(ctx, tx, `next_token_hash = $1`, refreshHash)
	})
}

func (s *AccountStore) RotateRefreshToken(ctx context.Context, oldHash string, tokens accounts.LoginTokens, now int64) (userID, deviceID string, err error) {
	err = s.db.WithTx(ctx, func(tx *sql.Tx) error {
		// Two refreshes with one token, or a refresh and the first use of
		// the tokens it gave, take turns on the device's lock; the token
		// is read again under it.
		const q = `SELECT user_id, device_id, COALESCE(next_token_hash, '') FROM refresh_tokens WHERE token_hash = $1`
		var next string
		err := tx.QueryRowContext(ctx, q, oldHash).Scan(&userID, &deviceID, &next)
		if err == nil && s.db.Dialect == Postgres {
			if err = s.lockDevice(ctx, tx, userID, deviceID); err == nil {
				err = tx.QueryRowContext(ctx, q, oldHash).Scan(&userID, &deviceID, &next)
			}
		}
		if errors.Is(err, sql.ErrNoRows) {
			return accounts.ErrNotFound
		}
		if err != nil {
			return err
		}
		if next != "" {
			// Refreshed before. If what that refresh gave has not been
			// used, its answer was lost: the repeat replaces it.
			var unused int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM refresh_tokens r
				WHERE r.token_hash = $1 AND r.next_token_hash IS NULL
				AND NOT EXISTS (SELECT 1 FROM access_tokens t WHERE t.refresh_token_hash = $1 AND t.used)`,
				next).Scan(&unused); err != nil {
				return err
			}
			if unused == 0 {
				return accounts.ErrRefreshTokenUsed
			}
			if err := dropRefreshTokens(ctx, tx, `token_hash = $1`, next); err != nil {
				return err
			}
		}
		// A predecessor still kept (the client refreshed twice without
		// using the tokens between) is spent now.
		if err := dropRefreshTokens(ctx, tx, `next_token_hash = $1`, oldHash); err != nil {
			return err
		}
		if err := insertTokens(ctx, tx, userID, deviceID, tokens, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE refresh_tokens SET next_token_hash = $1 WHERE token_hash = $2`, tokens.RefreshHash, oldHash)
		return err
	})
	if err != nil {
		return "", "", err
	}
	return userID, deviceID, nil
}
