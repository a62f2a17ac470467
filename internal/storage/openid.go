package storage

import (
	"context"
	"database/sql"
	"errors"

	"foyer/internal/accounts"
)

// OpenIDStore keeps OpenID tokens.
type OpenIDStore struct{ db *DB }

// NewOpenIDStore returns the OpenID token store over db.
func NewOpenIDStore(db *DB) *OpenIDStore { return &OpenIDStore{db: db} }

// Create stores a token hash for userID until expiresTS, dropping
// expired tokens on the way.
func (s *OpenIDStore) Create(ctx context.Context, hash, userID string, now, expiresTS int64) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM openid_tokens WHERE expires_ts <= $1`, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES ($1, $2, $3)`, hash, userID, expiresTS)
		return err
	})
}

// UserFor returns the user of an unexpired token, or accounts.ErrNotFound.
func (s *OpenIDStore) UserFor(ctx context.Context, hash string, now int64) (string, error) {
	var userID string
	err := s.db.Read.QueryRowContext(ctx, `SELECT user_id FROM openid_tokens WHERE token_hash = $1 AND expires_ts > $2`, hash, now).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", accounts.ErrNotFound
	}
	return userID, err
}
