package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Store keeps content by its SHA-256: identical bytes are stored once. The
// filesystem store is the only one today; an object store can implement
// the same interface later.
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
)

// FileStore keeps content in a directory as <root>/ab/cd/<sha256>. New
// content is written to <root>/tmp, synced, and renamed into place, so a
// file under its hash is always complete.
type FileStore struct {
	root string
}

var _ Store = (*FileStore)(nil)

// NewFileStore creates root if needed and removes temporary files a crash
// may have left behind (nothing else writes there while the server starts).
func NewFileStore(root string) (*FileStore, error) {
	tmp := filepath.Join(root, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("creating the media directory: %w", err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", tmp, err)
	}
	for _, e := range entries {
		_ = os.Remove(filepath.Join(tmp, e.Name()))
	}
	return &FileStore{root: root}, nil
}

// Root is the directory the store writes to.
func (s *FileStore) Root() string { return s.root }

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

func (s *FileStore) path(sha string) string {
	return filepath.Join(s.root, sha[0:2], sha[2:4], sha)
}

// Put implements Store.
func (s *FileStore) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "upload-*")
	if err != nil {
		return "", 0, err
	}
	tmpName := f.Name()
	committed := false
	defer func() {
		if !committed {
			f.Close()
			_ = os.Remove(tmpName)
		}
	}()

	h := sha256.New()
	size, err := copyCtx(ctx, io.MultiWriter(f, h), r)
	if err != nil {
		return "", 0, err
	}
	if err := f.Sync(); err != nil {
		return "", 0, err
	}
	if err := f.Close(); err != nil {
		return "", 0, err
	}
	sha := hex.EncodeToString(h.Sum(nil))
	final := s.path(sha)
	if _, err := os.Stat(final); err == nil {
		// Identical content is already stored: keep the one copy.
		_ = os.Remove(tmpName)
		committed = true
		return sha, size, nil
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmpName, final); err != nil {
		return "", 0, err
	}
	committed = true
	// Make the rename itself durable.
	syncDir(dir)
	return sha, size, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
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

type fileBlob struct {
	*os.File
	size int64
}

func (b fileBlob) Size() int64 { return b.size }

// Open implements Store.
func (s *FileStore) Open(_ context.Context, sha string) (Blob, error) {
	if !validSHA(sha) {
		return nil, ErrBlobNotFound
	}
	f, err := os.Open(s.path(sha))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrBlobNotFound
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return fileBlob{File: f, size: st.Size()}, nil
}

// Delete implements Store.
func (s *FileStore) Delete(_ context.Context, sha string) error {
	if !validSHA(sha) {
		return nil
	}
	err := os.Remove(s.path(sha))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
