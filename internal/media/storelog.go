package media

import (
	"context"
	"errors"
	"io"
	"log/slog"
)

// loggedStore logs the failures of the store itself: clients are told
// only that it is unavailable, the operator needs to know why.
type loggedStore struct {
	Store
	log *slog.Logger
}

func (s loggedStore) failed(ctx context.Context, op string, err error) {
	if errors.Is(err, ErrStoreUnavailable) {
		s.log.WarnContext(ctx, "media store failed", "op", op, "err", err)
	}
}

func (s loggedStore) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	sha, size, err := s.Store.Put(ctx, r)
	s.failed(ctx, "put", err)
	return sha, size, err
}

func (s loggedStore) Open(ctx context.Context, sha string) (Blob, error) {
	b, err := s.Store.Open(ctx, sha)
	s.failed(ctx, "open", err)
	return b, err
}

func (s loggedStore) Delete(ctx context.Context, sha string) error {
	err := s.Store.Delete(ctx, sha)
	s.failed(ctx, "delete", err)
	return err
}
