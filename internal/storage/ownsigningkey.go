package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// OwnSigningKey is the server's signing key as stored, in the one-line
// signing.key format; ok is false before any process stored one.
func (db *DB) OwnSigningKey(ctx context.Context) (line string, ok bool, err error) {
	err = db.Write.QueryRowContext(ctx, `SELECT key_line FROM own_signing_key WHERE id = 1`).Scan(&line)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading the server signing key: %w", err)
	}
	return line, true, nil
}

// StoreOwnSigningKeyOnce stores line as the server's signing key unless
// one is stored already, and returns the stored one: when several
// processes start together, all of them use the first one's key.
func (db *DB) StoreOwnSigningKeyOnce(ctx context.Context, line string) (string, error) {
	if _, err := db.Write.ExecContext(ctx, `INSERT INTO own_signing_key (id, key_line, created_ts) VALUES (1, $1, $2)
		ON CONFLICT (id) DO NOTHING`, line, time.Now().UnixMilli()); err != nil {
		return "", fmt.Errorf("storing the server signing key: %w", err)
	}
	stored, ok, err := db.OwnSigningKey(ctx)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errors.New("storing the server signing key: no key stored after the insert")
	}
	return stored, nil
}
