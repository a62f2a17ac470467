package media

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Store keeps content by its SHA-256: identical bytes are stored once.
// FileStore keeps it in a directory (which several servers may share),
// S3Store in an S3-compatible bucket.
type Store interface {
	// Put stores everything r yields and returns its hex SHA-256 and size.
	// Either the whole content is stored or nothing is: when r fails (a
	// client that went away, a size cap) or ctx ends, no trace remains and
	// the error wraps ErrRead for reader failures.
	Put(ctx context.Context, r io.Reader) (sha string, size int64, err error)
	// Open returns the content stored under sha, or ErrBlobNotFound.
	Open(ctx context.Context, sha string) (Blob, error)
	// Delete removes the content stored under sha; a missing one is no
	// error. Callers must know nothing refers to it any more.
	Delete(ctx context.Context, sha string) error
}

// Blob is stored content opened for reading; seeking serves ranges.
type Blob interface {
	io.ReadSeekCloser
	Size() int64
}

var (
	// ErrRead wraps an error of the reader given to Put, as opposed to a
	// failure of the store itself.
	ErrRead = errors.New("reading the content failed")
	// ErrBlobNotFound is returned by Open for unknown content.
	ErrBlobNotFound = errors.New("stored content not found")
	// ErrStoreUnavailable wraps a failure of the store itself (a full
	// disk, an object store that does not answer): the request may
	// succeed later, and the client is told so rather than of a bug.
	ErrStoreUnavailable = errors.New("media store unavailable")
)

// unavailable wraps a store failure in ErrStoreUnavailable, keeping its
// text for the log.
func unavailable(err error) error {
	return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
}

// storeOrReadError classifies an error of copying content into a store:
// the reader's failures and the end of ctx stay as they are, anything
// else is the store's.
func storeOrReadError(ctx context.Context, err error) error {
	if errors.Is(err, ErrRead) || ctx.Err() != nil {
		return err
	}
	return unavailable(err)
}

func validSHA(sha string) bool {
	if len(sha) != 64 {
		return false
	}
	for _, c := range sha {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// copyCtx copies r to w, stopping when ctx ends. Errors of r are wrapped
// in ErrRead.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := r.Read(buf)
		if k > 0 {
			if _, err := w.Write(buf[:k]); err != nil {
				return n, err
			}
			n += int64(k)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, fmt.Errorf("%w: %w", ErrRead, rerr)
		}
	}
}
