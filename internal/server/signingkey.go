package server

import (
	"context"
	"log/slog"
	"path/filepath"

	"foyer/internal/rooms/matrixevents"
	"foyer/internal/storage"
)

// loadSigningKey is the server's signing key, kept in the database so that
// every process serving it signs alike. The first start stores the data
// dir's signing.key (Synapse's format, so a key can be brought along) or
// a fresh key; from then on the database's key is the one, and a file
// that disagrees is reported and left alone.
func loadSigningKey(ctx context.Context, db *storage.DB, dataDir string, log *slog.Logger) (*matrixevents.SigningKey, error) {
	fileKey, haveFile, err := matrixevents.ReadSigningKeyFile(dataDir)
	if err != nil {
		return nil, err
	}
	line, stored, err := db.OwnSigningKey(ctx)
	if err != nil {
		return nil, err
	}
	if !stored {
		candidate := fileKey
		if !haveFile {
			if candidate, err = matrixevents.NewSigningKey(); err != nil {
				return nil, err
			}
		}
		if line, err = db.StoreOwnSigningKeyOnce(ctx, candidate.Line()); err != nil {
			return nil, err
		}
	}
	key, err := matrixevents.ParseSigningKeyLine(line, "the database")
	if err != nil {
		return nil, err
	}
	if haveFile && fileKey.Line() != key.Line() {
		log.Warn("the signing key file differs from the database's key; the database's is used",
			"file", filepath.Join(dataDir, matrixevents.SigningKeyFile), "file_key_id", fileKey.KeyID(), "key_id", key.KeyID())
	}
	return key, nil
}
