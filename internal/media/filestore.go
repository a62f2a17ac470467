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

// FileStore keeps content in a directory as <root>/ab/cd/<sha256>. New
// content is written to <root>/tmp, synced, and renamed into place, so a
// file under its hash is always complete. Several servers may share the
// directory (a shared filesystem): a rename is atomic, and identical
// content written by two of them at once is the same file either way.
type FileStore struct {
	root string
}

var _ Store = (*FileStore)(nil)

// NewFileStore creates root if needed and removes the temporary files a
// crash left behind long ago.
func NewFileStore(root string) (*FileStore, error) {
	if err := prepareTempDir(filepath.Join(root, "tmp")); err != nil {
		return nil, fmt.Errorf("preparing the media directory: %w", err)
	}
	return &FileStore{root: root}, nil
}

// Root is the directory the store writes to.
func (s *FileStore) Root() string { return s.root }

func (s *FileStore) path(sha string) string {
	return filepath.Join(s.root, sha[0:2], sha[2:4], sha)
}

// Put implements Store.
func (s *FileStore) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "upload-*")
	if err != nil {
		return "", 0, unavailable(err)
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
		return "", 0, storeOrReadError(ctx, err)
	}
	if err := f.Sync(); err != nil {
		return "", 0, unavailable(err)
	}
	if err := f.Close(); err != nil {
		return "", 0, unavailable(err)
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
		return "", 0, unavailable(err)
	}
	if err := os.Rename(tmpName, final); err != nil {
		return "", 0, unavailable(err)
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
		return nil, unavailable(err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, unavailable(err)
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
		return unavailable(err)
	}
	return nil
}
