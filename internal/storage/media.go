package storage

import (
	"context"
	"database/sql"
	"errors"

	"foyer/internal/media"
)

// MediaStore implements media.MetadataStore.
type MediaStore struct{ db *DB }

// NewMediaStore returns the media metadata store over db.
func NewMediaStore(db *DB) *MediaStore { return &MediaStore{db: db} }

var _ media.MetadataStore = (*MediaStore)(nil)

func nullInt(n int64) sql.NullInt64 { return sql.NullInt64{Int64: n, Valid: n != 0} }

func (s *MediaStore) InsertMedia(ctx context.Context, r media.Record) error {
	var sha sql.NullString
	var size sql.NullInt64
	if r.Uploaded() {
		sha = sql.NullString{String: r.SHA256, Valid: true}
		size = sql.NullInt64{Int64: r.Size, Valid: true}
	}
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO media
		(origin, media_id, user_id, content_type, upload_name, sha256, size_bytes, created_ts, uploaded_ts, expires_ts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		r.Origin, r.MediaID, r.UserID, nullString(r.ContentType), nullString(r.UploadName),
		sha, size, r.CreatedTS, nullInt(r.UploadedTS), nullInt(r.ExpiresTS))
	if IsUniqueViolation(err) {
		return media.ErrIDTaken
	}
	return err
}

func (s *MediaStore) GetMedia(ctx context.Context, origin, mediaID string) (media.Record, error) {
	var r media.Record
	var ct, name, sha sql.NullString
	var size, uploaded, expires sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT origin, media_id, user_id, content_type, upload_name,
		sha256, size_bytes, created_ts, uploaded_ts, expires_ts
		FROM media WHERE origin = $1 AND media_id = $2`, origin, mediaID).
		Scan(&r.Origin, &r.MediaID, &r.UserID, &ct, &name, &sha, &size, &r.CreatedTS, &uploaded, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return media.Record{}, media.ErrNotFound
	}
	if err != nil {
		return media.Record{}, err
	}
	r.ContentType, r.UploadName, r.SHA256 = ct.String, name.String, sha.String
	r.Size, r.UploadedTS, r.ExpiresTS = size.Int64, uploaded.Int64, expires.Int64
	return r, nil
}

func (s *MediaStore) CompletePending(ctx context.Context, r media.Record) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE media
		SET content_type = $1, upload_name = $2, sha256 = $3, size_bytes = $4, uploaded_ts = $5
		WHERE origin = $6 AND media_id = $7 AND uploaded_ts IS NULL`,
		nullString(r.ContentType), nullString(r.UploadName), r.SHA256, r.Size, r.UploadedTS, r.Origin, r.MediaID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 1 {
		return nil
	}
	if _, err := s.GetMedia(ctx, r.Origin, r.MediaID); err != nil {
		return err
	}
	return media.ErrAlreadyUploaded
}

func (s *MediaStore) CountPending(ctx context.Context, userID string, now int64) (int, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM media
		WHERE user_id = $1 AND uploaded_ts IS NULL AND expires_ts > $2`, userID, now).Scan(&n)
	return n, err
}

func (s *MediaStore) GetThumbnail(ctx context.Context, origin, mediaID string, width, height int, method string) (media.Thumbnail, error) {
	return s.thumbnail(ctx, "media_thumbnails", origin, mediaID, width, height, method)
}

func (s *MediaStore) InsertThumbnail(ctx context.Context, t media.Thumbnail) error {
	return s.insertThumbnail(ctx, "media_thumbnails", t)
}

// thumbnail and insertThumbnail read and write a thumbnail row of table:
// media_thumbnails (of media kept here) or remote_media_thumbnails (of
// other servers' media, remotemedia.go), which have the same columns.
func (s *MediaStore) thumbnail(ctx context.Context, table, origin, mediaID string, width, height int, method string) (media.Thumbnail, error) {
	t := media.Thumbnail{Origin: origin, MediaID: mediaID, Width: width, Height: height, Method: method}
	err := s.db.Read.QueryRowContext(ctx, `SELECT content_type, sha256, size_bytes, actual_width, actual_height, created_ts
		FROM `+table+` WHERE origin = $1 AND media_id = $2 AND width = $3 AND height = $4 AND method = $5`,
		origin, mediaID, width, height, method).
		Scan(&t.ContentType, &t.SHA256, &t.Size, &t.ActualWidth, &t.ActualHeight, &t.CreatedTS)
	if errors.Is(err, sql.ErrNoRows) {
		return media.Thumbnail{}, media.ErrNotFound
	}
	return t, err
}

func (s *MediaStore) insertThumbnail(ctx context.Context, table string, t media.Thumbnail) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO `+table+`
		(origin, media_id, width, height, method, content_type, sha256, size_bytes, actual_width, actual_height, created_ts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (origin, media_id, width, height, method) DO NOTHING`,
		t.Origin, t.MediaID, t.Width, t.Height, t.Method, t.ContentType, t.SHA256, t.Size,
		t.ActualWidth, t.ActualHeight, t.CreatedTS)
	return err
}
