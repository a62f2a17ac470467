package storage

import (
	"context"
	"database/sql"
	"errors"

	"foyer/internal/media"
)

var _ media.RemoteCache = (*MediaStore)(nil)

func (s *MediaStore) GetRemoteMedia(ctx context.Context, origin, mediaID string) (media.Record, error) {
	r := media.Record{Origin: origin, MediaID: mediaID}
	var name sql.NullString
	err := s.db.Read.QueryRowContext(ctx, `SELECT content_type, upload_name, sha256, size_bytes, fetched_ts
		FROM remote_media WHERE origin = $1 AND media_id = $2`, origin, mediaID).
		Scan(&r.ContentType, &name, &r.SHA256, &r.Size, &r.UploadedTS)
	if errors.Is(err, sql.ErrNoRows) {
		return media.Record{}, media.ErrNotFound
	}
	if err != nil {
		return media.Record{}, err
	}
	r.UploadName = name.String
	r.CreatedTS = r.UploadedTS
	return r, nil
}

func (s *MediaStore) InsertRemoteMedia(ctx context.Context, r media.Record) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO remote_media
		(origin, media_id, content_type, upload_name, sha256, size_bytes, fetched_ts)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (origin, media_id) DO NOTHING`,
		r.Origin, r.MediaID, r.ContentType, nullString(r.UploadName), r.SHA256, r.Size, r.UploadedTS)
	return err
}

func (s *MediaStore) GetRemoteThumbnail(ctx context.Context, origin, mediaID string, width, height int, method string) (media.Thumbnail, error) {
	return s.thumbnail(ctx, "remote_media_thumbnails", origin, mediaID, width, height, method)
}

func (s *MediaStore) InsertRemoteThumbnail(ctx context.Context, t media.Thumbnail) error {
	return s.insertThumbnail(ctx, "remote_media_thumbnails", t)
}
