package storage

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"

	"foyer/internal/serverkeys"
)

// ServerKeyStore keeps other servers' signing keys and their last key
// answers (serverkeys.Store).
type ServerKeyStore struct{ db *DB }

// NewServerKeyStore returns the server key store over db.
func NewServerKeyStore(db *DB) *ServerKeyStore { return &ServerKeyStore{db: db} }

// Key returns one stored key of a server.
func (s *ServerKeyStore) Key(ctx context.Context, serverName, keyID string) (serverkeys.Key, bool, error) {
	var pub string
	k := serverkeys.Key{KeyID: keyID}
	err := s.db.Read.QueryRowContext(ctx, `SELECT public_key, valid_until_ts, expired_ts FROM server_keys
		WHERE server_name = $1 AND key_id = $2`, serverName, keyID).Scan(&pub, &k.ValidUntilTS, &k.ExpiredTS)
	if errors.Is(err, sql.ErrNoRows) {
		return serverkeys.Key{}, false, nil
	}
	if err != nil {
		return serverkeys.Key{}, false, err
	}
	k.PublicKey, err = base64.RawStdEncoding.DecodeString(pub)
	if err != nil {
		return serverkeys.Key{}, false, err
	}
	return k, true, nil
}

// SaveResponse stores a checked key answer and every key it lists, in one
// transaction. Keys the answer no longer lists are kept as they were.
func (s *ServerKeyStore) SaveResponse(ctx context.Context, resp serverkeys.Response, fetchedTS int64) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, k := range resp.Keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO server_keys
				(server_name, key_id, public_key, valid_until_ts, expired_ts, fetched_ts)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (server_name, key_id) DO UPDATE SET public_key = excluded.public_key,
					valid_until_ts = excluded.valid_until_ts, expired_ts = excluded.expired_ts,
					fetched_ts = excluded.fetched_ts`,
				resp.ServerName, k.KeyID, base64.RawStdEncoding.EncodeToString(k.PublicKey),
				k.ValidUntilTS, k.ExpiredTS, fetchedTS); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO server_key_responses (server_name, response, valid_until_ts, fetched_ts)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (server_name) DO UPDATE SET response = excluded.response,
				valid_until_ts = excluded.valid_until_ts, fetched_ts = excluded.fetched_ts`,
			resp.ServerName, string(resp.Raw), resp.ValidUntilTS, fetchedTS)
		return err
	})
}

// Response returns a server's last stored key answer.
func (s *ServerKeyStore) Response(ctx context.Context, serverName string) ([]byte, int64, bool, error) {
	var raw string
	var validUntil int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT response, valid_until_ts FROM server_key_responses WHERE server_name = $1`,
		serverName).Scan(&raw, &validUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	return []byte(raw), validUntil, true, nil
}
