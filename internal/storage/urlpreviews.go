package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"

	"foyer/internal/urlpreview"
)

// URLPreviewStore implements urlpreview.Cache.
type URLPreviewStore struct{ db *DB }

// NewURLPreviewStore returns the URL preview cache over db.
func NewURLPreviewStore(db *DB) *URLPreviewStore { return &URLPreviewStore{db: db} }

var _ urlpreview.Cache = (*URLPreviewStore)(nil)

func urlHash(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:])
}

func (s *URLPreviewStore) GetURLPreview(ctx context.Context, url string, now int64) ([]byte, error) {
	var og string
	err := s.db.Read.QueryRowContext(ctx, `SELECT og_json FROM url_previews
		WHERE url_hash = $1 AND url = $2 AND expires_ts > $3`, urlHash(url), url, now).Scan(&og)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, urlpreview.ErrNotCached
	}
	if err != nil {
		return nil, err
	}
	return []byte(og), nil
}

// PutURLPreview keeps p as the URL's preview, replacing an older one, and
// drops previews that expired before p was fetched: the table holds what
// may still be answered and little more.
func (s *URLPreviewStore) PutURLPreview(ctx context.Context, p urlpreview.Cached) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO url_previews (url_hash, url, og_json, fetched_ts, expires_ts)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (url_hash) DO UPDATE SET url = excluded.url, og_json = excluded.og_json,
				fetched_ts = excluded.fetched_ts, expires_ts = excluded.expires_ts`,
			urlHash(p.URL), p.URL, string(p.OpenGraph), p.FetchedTS, p.ExpiresTS); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM url_previews WHERE expires_ts <= $1`, p.FetchedTS)
		return err
	})
}
