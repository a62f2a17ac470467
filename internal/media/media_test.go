package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

func TestFit(t *testing.T) {
	for _, c := range []struct{ ow, oh, w, h, tw, th int }{
		{1000, 800, 320, 240, 300, 240},
		{1000, 800, 300, 200, 250, 200},
		{400, 300, 320, 240, 320, 240},
		{100, 100, 320, 240, 100, 100}, // never upscaled
		{10000, 10, 320, 240, 320, 1},  // never below 1
	} {
		if tw, th := fit(c.ow, c.oh, c.w, c.h); tw != c.tw || th != c.th {
			t.Errorf("fit(%d,%d into %dx%d) = %dx%d, want %dx%d", c.ow, c.oh, c.w, c.h, tw, th, c.tw, c.th)
		}
	}
}

func TestChooseBox(t *testing.T) {
	for _, c := range []struct {
		ow, oh, w, h int
		method       string
		want         Box
		ok           bool
	}{
		{1000, 800, 32, 32, "crop", Box{32, 32, "crop"}, true},
		{1000, 800, 33, 20, "crop", Box{96, 96, "crop"}, true},
		{1000, 800, 100, 100, "crop", Box{320, 240, "scale"}, true},
		{1000, 800, 1200, 100, "crop", Box{}, false}, // original smaller than asked
		{1000, 800, 300, 200, "scale", Box{320, 240, "scale"}, true},
		{1000, 800, 700, 500, "scale", Box{800, 600, "scale"}, true},
		{1000, 800, 900, 900, "scale", Box{}, false}, // no standard size is big enough
		{20, 20, 32, 32, "crop", Box{}, false},
		{96, 96, 50, 50, "crop", Box{}, false}, // the box would be the original
		{320, 240, 100, 100, "scale", Box{}, false},
	} {
		b, ok := ChooseBox(c.ow, c.oh, c.w, c.h, c.method)
		if b != c.want || ok != c.ok {
			t.Errorf("ChooseBox(%dx%d, %dx%d %s) = %v %v, want %v %v", c.ow, c.oh, c.w, c.h, c.method, b, ok, c.want, c.ok)
		}
	}
}

func TestValidMediaID(t *testing.T) {
	for id, want := range map[string]bool{
		"abcXYZ019_-": true, "": false, "a/b": false, "..": false, "a%2F": false, "é": false,
		strings.Repeat("a", 256): false, NewMediaID(): true,
	} {
		if ValidMediaID(id) != want {
			t.Errorf("ValidMediaID(%q) != %v", id, want)
		}
	}
}

// memMeta is an in-memory MetadataStore.
type memMeta struct {
	mu     sync.Mutex
	media  map[string]Record
	thumbs map[string]Thumbnail
}

func newMemMeta() *memMeta {
	return &memMeta{media: map[string]Record{}, thumbs: map[string]Thumbnail{}}
}

func (m *memMeta) InsertMedia(_ context.Context, r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.media[r.MediaID]; ok {
		return ErrIDTaken
	}
	m.media[r.MediaID] = r
	return nil
}

func (m *memMeta) GetMedia(_ context.Context, _, id string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.media[id]
	if !ok {
		return Record{}, ErrNotFound
	}
	return r, nil
}

func (m *memMeta) CompletePending(_ context.Context, r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.media[r.MediaID]
	if !ok {
		return ErrNotFound
	}
	if old.Uploaded() {
		return ErrAlreadyUploaded
	}
	m.media[r.MediaID] = r
	return nil
}

func (m *memMeta) CountPending(_ context.Context, userID string, now int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.media {
		if r.UserID == userID && !r.Uploaded() && r.ExpiresTS > now {
			n++
		}
	}
	return n, nil
}

func thumbKey(id string, w, h int, method string) string {
	return fmt.Sprintf("%s/%dx%d/%s", id, w, h, method)
}

func (m *memMeta) GetThumbnail(_ context.Context, _, id string, w, h int, method string) (Thumbnail, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.thumbs[thumbKey(id, w, h, method)]
	if !ok {
		return Thumbnail{}, ErrNotFound
	}
	return t, nil
}

func (m *memMeta) InsertThumbnail(_ context.Context, t Thumbnail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := thumbKey(t.MediaID, t.Width, t.Height, t.Method)
	if _, ok := m.thumbs[k]; !ok {
		m.thumbs[k] = t
	}
	return nil
}

func newTestService(t *testing.T, opts Options) (*Service, *FileStore) {
	t.Helper()
	fs, err := NewFileStore(filepath.Join(t.TempDir(), "media"))
	if err != nil {
		t.Fatal(err)
	}
	opts.ServerName = "test.example"
	if opts.MaxUploadBytes == 0 {
		opts.MaxUploadBytes = 1 << 30
	}
	return NewService(newMemMeta(), fs, opts), fs
}

func TestUploadFailuresLeaveNothing(t *testing.T) {
	s, fs := newTestService(t, Options{MaxUploadBytes: 100})
	ctx := context.Background()
	// Too large, a failing reader, a cancelled context.
	if _, err := s.Upload(ctx, "@a:x", "", "", bytes.NewReader(make([]byte, 101))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("101 bytes: %v", err)
	}
	boom := errors.New("connection reset")
	if _, err := s.Upload(ctx, "@a:x", "", "", io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(boom))); !errors.Is(err, ErrRead) || !errors.Is(err, boom) {
		t.Fatalf("failing reader: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Upload(cctx, "@a:x", "", "", bytes.NewReader([]byte("x"))); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	var files []string
	_ = filepath.WalkDir(fs.Root(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("left behind: %v", files)
	}
	// Exactly at the cap is fine.
	if _, err := s.Upload(ctx, "@a:x", "", "", bytes.NewReader(make([]byte, 100))); err != nil {
		t.Fatal(err)
	}
}

// Big images within the limits are thumbnailed in bounded time; those
// over the limits are refused before decoding.
func TestThumbnailLargeImages(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes large images")
	}
	s, _ := newTestService(t, Options{})
	ctx := context.Background()
	upload := func(ct string, enc func(io.Writer) error) Record {
		var b bytes.Buffer
		if err := enc(&b); err != nil {
			t.Fatal(err)
		}
		rec, err := s.Upload(ctx, "@a:x", ct, "", &b)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	big := image.NewRGBA(image.Rect(0, 0, 8000, 4000)) // 32 Mpx
	for i := range big.Pix {
		big.Pix[i] = byte(i * 7)
	}
	jpg := upload("image/jpeg", func(w io.Writer) error { return jpeg.Encode(w, big, &jpeg.Options{Quality: 60}) })
	pal := image.NewPaletted(image.Rect(0, 0, 5000, 5000), palette.Plan9) // 25 Mpx, generic scaling path
	for i := range pal.Pix {
		pal.Pix[i] = byte(i / 97)
	}
	gf := upload("image/gif", func(w io.Writer) error { return gif.Encode(w, pal, nil) })
	deep := image.NewNRGBA64(image.Rect(0, 0, 5000, 5000)) // 200 MB decoded
	deepPNG := upload("image/png", func(w io.Writer) error {
		return (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(w, deep)
	})

	for _, c := range []struct {
		name string
		rec  Record
	}{{"jpeg 8000x4000", jpg}, {"gif 5000x5000", gf}} {
		start := time.Now()
		sv, err := s.Thumbnail(ctx, c.rec, 320, 240, "scale", false)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		cfg, _, err := image.DecodeConfig(sv.Blob)
		sv.Blob.Close()
		if err != nil || cfg.Width != 320 && cfg.Height != 240 {
			t.Fatalf("%s: %v %dx%d", c.name, err, cfg.Width, cfg.Height)
		}
		t.Logf("%s: thumbnail in %v", c.name, time.Since(start))
	}
	if _, err := s.Thumbnail(ctx, deepPNG, 32, 32, "crop", false); !errors.Is(err, ErrImageTooLarge) {
		t.Fatalf("16-bit 5000x5000: %v", err)
	}
}

func TestThumbnailDecodeTimeout(t *testing.T) {
	s, _ := newTestService(t, Options{Thumbnails: ThumbnailLimits{DecodeTimeout: time.Nanosecond}})
	var b bytes.Buffer
	img := image.NewNRGBA(image.Rect(0, 0, 2000, 2000))
	for i := range img.Pix {
		img.Pix[i] = byte(i % 251)
	}
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Upload(context.Background(), "@a:x", "image/png", "", &b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Thumbnail(context.Background(), rec, 32, 32, "crop", false); !errors.Is(err, ErrImageTooLarge) {
		t.Fatalf("want ErrImageTooLarge after the decode timeout, got %v", err)
	}
}

func TestBytesPerPixel(t *testing.T) {
	if bytesPerPixel(color.Palette(palette.Plan9)) != 1 || bytesPerPixel(color.NRGBA64Model) != 8 || bytesPerPixel(color.RGBAModel) != 4 {
		t.Fatal("bytesPerPixel")
	}
}
