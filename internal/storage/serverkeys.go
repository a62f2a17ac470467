package storage

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"slices"
	"strings"

	"foyer/internal/serverkeys"
)

// ServerKeyStore keeps other servers' signing keys and each key's last
// key answer (serverkeys.Store).
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

// SaveResponse stores a checked key answer, every key it lists and, for
// each of those keys, the answer as the last that listed it, in one
// transaction. Keys the answer no longer lists are kept as they were,
// with their own last answer.
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
			if _, err := tx.ExecContext(ctx, `INSERT INTO server_key_answers
				(server_name, key_id, response, valid_until_ts, fetched_ts)
				VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (server_name, key_id) DO UPDATE SET response = excluded.response,
					valid_until_ts = excluded.valid_until_ts, fetched_ts = excluded.fetched_ts`,
				resp.ServerName, k.KeyID, string(resp.Raw), resp.ValidUntilTS, fetchedTS); err != nil {
				return err
			}
		}
		return nil
	})
}

// Answers returns the last answers that listed serverName's keys keyIDs
// (all its keys when keyIDs is empty), in key ID order.
func (s *ServerKeyStore) Answers(ctx context.Context, serverName string, keyIDs []string) ([]serverkeys.KeyAnswer, error) {
	if len(keyIDs) == 0 {
		return s.answers(ctx, `SELECT key_id, response, valid_until_ts FROM server_key_answers
			WHERE server_name = $1 ORDER BY key_id`, serverName)
	}
	var all []serverkeys.KeyAnswer
	for chunk := range slices.Chunk(keyIDs, maxInArgs-1) {
		var p placeholders
		query := `SELECT key_id, response, valid_until_ts FROM server_key_answers
			WHERE server_name = ` + p.arg(serverName) + ` AND key_id IN (` + p.list(s.db.Dialect, chunk) + `)`
		got, err := s.answers(ctx, query, p.args...)
		if err != nil {
			return nil, err
		}
		all = append(all, got...)
	}
	// Chunks may repeat a key ID that the request named twice.
	slices.SortFunc(all, func(a, b serverkeys.KeyAnswer) int { return strings.Compare(a.KeyID, b.KeyID) })
	return slices.CompactFunc(all, func(a, b serverkeys.KeyAnswer) bool { return a.KeyID == b.KeyID }), nil
}

func (s *ServerKeyStore) answers(ctx context.Context, query string, args ...any) ([]serverkeys.KeyAnswer, error) {
	rows, err := s.db.Read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []serverkeys.KeyAnswer
	for rows.Next() {
		var a serverkeys.KeyAnswer
		var raw string
		if err := rows.Scan(&a.KeyID, &raw, &a.ValidUntilTS); err != nil {
			return nil, err
		}
		a.Raw = []byte(raw)
		out = append(out, a)
	}
	return out, rows.Err()
}
