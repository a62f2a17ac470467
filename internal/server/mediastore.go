package server

import (
	"context"
	"path/filepath"

	"foyer/internal/config"
	"foyer/internal/media"
)

// openMediaStore opens the content store media.store names. An s3 store
// is checked now, so that a server whose bucket cannot be reached does
// not start.
func openMediaStore(ctx context.Context, cfg config.Config) (media.Store, error) {
	if cfg.Media.Store != config.MediaStoreS3 {
		return media.NewFileStore(mediaDirectory(cfg))
	}
	s3 := cfg.Media.S3
	roots, err := s3.RootCAs()
	if err != nil {
		return nil, err
	}
	return media.NewS3Store(ctx, media.S3Options{
		Endpoint:        s3.Endpoint,
		Bucket:          s3.Bucket,
		Region:          s3.Region,
		AccessKeyID:     s3.AccessKeyID,
		SecretAccessKey: s3.SecretAccessKey,
		Prefix:          s3.Prefix,
		PathStyle:       s3.PathStyle,
		RootCAs:         roots,
		SpoolDir:        filepath.Join(cfg.DataDir, "media-spool"),
	})
}

// mediaDirectory is the directory store's root: media.directory, or
// media/ in the data dir, where media has always been kept.
func mediaDirectory(cfg config.Config) string {
	if cfg.Media.Directory != "" {
		return cfg.Media.Directory
	}
	return filepath.Join(cfg.DataDir, "media")
}
