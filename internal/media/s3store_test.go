package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"foyer/internal/testharness/s3fake"
)

func newS3TestStore(t *testing.T, fake *s3fake.Server, prefix string) *S3Store {
	t.Helper()
	s, err := NewS3Store(context.Background(), S3Options{
		Endpoint:        fake.Endpoint,
		Bucket:          fake.Bucket,
		Region:          "us-east-1",
		AccessKeyID:     s3fake.AccessKeyID,
		SecretAccessKey: s3fake.SecretAccessKey,
		Prefix:          prefix,
		PathStyle:       true,
		SpoolDir:        filepath.Join(t.TempDir(), "spool"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestS3StorePutOpenRangeDelete(t *testing.T) {
	fake := s3fake.Start(t, "media")
	s := newS3TestStore(t, fake, "foyer")
	ctx := context.Background()

	content := bytes.Repeat([]byte("0123456789"), 10000) // 100 kB
	sum := sha256.Sum256(content)
	want := hex.EncodeToString(sum[:])
	sha, size, err := s.Put(ctx, bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if sha != want || size != int64(len(content)) {
		t.Fatalf("Put = %s, %d; want %s, %d", sha, size, want, len(content))
	}
	keys := fake.Keys(t)
	if len(keys) != 1 || keys[0] != "foyer/"+sha[0:2]+"/"+sha[2:4]+"/"+sha {
		t.Fatalf("keys %v", keys)
	}
	// The same content again is the same object.
	if sha2, _, err := s.Put(ctx, bytes.NewReader(content)); err != nil || sha2 != sha {
		t.Fatalf("second Put: %s, %v", sha2, err)
	}
	if n := len(fake.Keys(t)); n != 1 {
		t.Fatalf("%d objects after storing the same content twice", n)
	}

	b, err := s.Open(ctx, sha)
	if err != nil {
		t.Fatal(err)
	}
	if b.Size() != int64(len(content)) {
		t.Fatalf("Size %d", b.Size())
	}
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	// Ranges: seek and read, as http.ServeContent does.
	for _, r := range []struct{ from, n int64 }{{0, 10}, {99990, 10}, {12345, 4321}, {50000, 1}} {
		if _, err := b.Seek(r.from, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		part := make([]byte, r.n)
		if _, err := io.ReadFull(b, part); err != nil {
			t.Fatalf("range %d+%d: %v", r.from, r.n, err)
		}
		if !bytes.Equal(part, content[r.from:r.from+r.n]) {
			t.Fatalf("range %d+%d: wrong bytes", r.from, r.n)
		}
	}
	if end, err := b.Seek(0, io.SeekEnd); err != nil || end != int64(len(content)) {
		t.Fatalf("seek to end: %d, %v", end, err)
	}
	if n, err := b.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read at end: %d, %v", n, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	if err := s.Delete(ctx, sha); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, sha); !errors.Is(err, ErrBlobNotFound) {
		t.Fatalf("Open after Delete: %v", err)
	}
	// Deleting what is not there is no error.
	if err := s.Delete(ctx, sha); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestS3StoreMissingAndInvalid(t *testing.T) {
	fake := s3fake.Start(t, "media")
	s := newS3TestStore(t, fake, "")
	ctx := context.Background()
	for _, sha := range []string{strings.Repeat("a", 64), "../../etc/passwd", "", strings.Repeat("A", 64)} {
		if _, err := s.Open(ctx, sha); !errors.Is(err, ErrBlobNotFound) {
			t.Fatalf("Open(%q): %v", sha, err)
		}
	}
	// Empty content is content too.
	sha, size, err := s.Put(ctx, bytes.NewReader(nil))
	if err != nil || size != 0 {
		t.Fatalf("empty Put: %d, %v", size, err)
	}
	b, err := s.Open(ctx, sha)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(b); err != nil || len(got) != 0 {
		t.Fatalf("empty read: %q, %v", got, err)
	}
	b.Close()
}

// A failed upload leaves no object and no spool file; the reader's
// failures keep their kind, the store's become ErrStoreUnavailable.
func TestS3StoreFailuresLeaveNothing(t *testing.T) {
	fake := s3fake.Start(t, "media")
	s := newS3TestStore(t, fake, "")
	ctx := context.Background()

	boom := errors.New("connection reset")
	_, _, err := s.Put(ctx, io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)))
	if !errors.Is(err, ErrRead) || !errors.Is(err, boom) || errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("failing reader: %v", err)
	}
	_, _, err = s.Put(ctx, CapReader(strings.NewReader("too long"), 3, ErrTooLarge))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the cap: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.Put(cctx, strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if keys := fake.Keys(t); len(keys) != 0 {
		t.Fatalf("objects left behind: %v", keys)
	}
	if left, _ := os.ReadDir(s.spoolDir); len(left) != 0 {
		t.Fatalf("spool files left behind: %d", len(left))
	}

	// The store goes away: writing and reading say so.
	sha, _, err := s.Put(ctx, strings.NewReader("kept"))
	if err != nil {
		t.Fatal(err)
	}
	fake.Close()
	if _, _, err := s.Put(ctx, strings.NewReader("new")); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Put to a store that is down: %v", err)
	}
	if _, err := s.Open(ctx, sha); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Open from a store that is down: %v", err)
	}
	if left, _ := os.ReadDir(s.spoolDir); len(left) != 0 {
		t.Fatalf("spool files left behind: %d", len(left))
	}
}

// A server does not start on a bucket it cannot use.
func TestS3StoreStartupCheck(t *testing.T) {
	fake := s3fake.Start(t, "media")
	opts := S3Options{
		Endpoint: fake.Endpoint, Bucket: "no-such-bucket", Region: "us-east-1",
		AccessKeyID: s3fake.AccessKeyID, SecretAccessKey: s3fake.SecretAccessKey,
		PathStyle: true, SpoolDir: t.TempDir(),
	}
	if _, err := NewS3Store(context.Background(), opts); err == nil || !strings.Contains(err.Error(), `"no-such-bucket" does not exist`) {
		t.Fatalf("missing bucket: %v", err)
	}
	fake.Close()
	opts.Bucket = "media"
	if _, err := NewS3Store(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "cannot be reached") {
		t.Fatalf("store down: %v", err)
	}
}

// Content larger than one part goes up in parts and reads back whole.
func TestS3StoreLargeContent(t *testing.T) {
	fake := s3fake.Start(t, "media")
	s := newS3TestStore(t, fake, "")
	content := bytes.Repeat([]byte("large content "), 20<<20/14) // 20 MiB
	sha, size, err := s.Put(context.Background(), bytes.NewReader(content))
	if err != nil || size != int64(len(content)) {
		t.Fatalf("Put: %d, %v", size, err)
	}
	b, err := s.Open(context.Background(), sha)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
}
