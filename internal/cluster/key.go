package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"

	"foyer/internal/storage"
)

// Key is the secret every process of a database shows when it forwards a
// request to the writer: made by the first process to start, kept in the
// database, which every process (and nobody else) can read.
func Key(ctx context.Context, store *storage.ClusterStore) (string, error) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return store.ClusterKey(ctx, base64.RawURLEncoding.EncodeToString(b[:]))
}
