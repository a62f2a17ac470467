package integration

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	_ "golang.org/x/image/webp" // lets image.DecodeConfig read WebP answers

	"foyer/internal/config"
	"foyer/internal/testharness"
)

const (
	clientMedia = "/_matrix/client/v1/media"
	mediaCSP    = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"
)

// G-53: guests download and thumbnail but do not upload; the legacy
// endpoints need no token. Every media endpoint as user, guest, no token.
func TestMediaAccess_G53(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		user := hs.RegisterUser(t, "alice")
		guest := hs.RegisterGuest(t)
		img := pngOf(t, 400, 300)
		id := uploadMedia(t, hs, user.Token, "image/png", "pic.png", img)

		// Uploading, creating and the config are for users only.
		for _, who := range []struct {
			name, token string
			status      int
			code        string
		}{
			{"user", user.Token, 200, ""},
			{"guest", guest.Token, 403, "M_GUEST_ACCESS_FORBIDDEN"},
			{"no token", "", 401, "M_MISSING_TOKEN"},
		} {
			r := mediaDo(t, hs, "POST", "/_matrix/media/v3/upload", who.token, []byte("hi"), "Content-Type", "text/plain")
			mediaExpect(t, who.name+" upload", r, who.status, who.code)
			r = mediaDo(t, hs, "POST", "/_matrix/media/v1/create", who.token, []byte("{}"), "Content-Type", "application/json")
			mediaExpect(t, who.name+" create", r, who.status, who.code)
			created := strings.TrimPrefix(r.Str("content_uri"), "mxc://")
			if who.status == 200 {
				r = mediaDo(t, hs, "PUT", "/_matrix/media/v3/upload/"+created, who.token, []byte("later"), "Content-Type", "text/plain")
			} else {
				r = mediaDo(t, hs, "PUT", "/_matrix/media/v3/upload/localhost/whatever", who.token, []byte("later"), "Content-Type", "text/plain")
			}
			mediaExpect(t, who.name+" async upload", r, who.status, who.code)
			for _, p := range []string{clientMedia + "/config", "/_matrix/media/v3/config"} {
				r = mediaDo(t, hs, "GET", p, who.token, nil)
				mediaExpect(t, who.name+" "+p, r, who.status, who.code)
				if who.status == 200 && r.JSON["m.upload.size"] != float64(50<<20) {
					t.Fatalf("m.upload.size: %s", r)
				}
			}
		}

		// Downloading and thumbnailing: users and guests, not anonymous.
		authed := []string{
			clientMedia + "/download/" + id,
			clientMedia + "/download/" + id + "/other.png",
			clientMedia + "/thumbnail/" + id + "?width=32&height=32&method=crop",
		}
		legacy := []string{}
		for _, v := range []string{"v3", "r0"} {
			legacy = append(legacy,
				"/_matrix/media/"+v+"/download/"+id,
				"/_matrix/media/"+v+"/download/"+id+"/other.png",
				"/_matrix/media/"+v+"/thumbnail/"+id+"?width=32&height=32&method=crop")
		}
		for _, p := range authed {
			mediaExpect(t, "user "+p, mediaDo(t, hs, "GET", p, user.Token, nil), 200, "")
			mediaExpect(t, "guest "+p, mediaDo(t, hs, "GET", p, guest.Token, nil), 200, "")
			mediaExpect(t, "no token "+p, mediaDo(t, hs, "GET", p, "", nil), 401, "M_MISSING_TOKEN")
			// The spec still allows the token in the query string.
			mediaExpect(t, "query token "+p, mediaDo(t, hs, "GET", p+sep(p)+"access_token="+guest.Token, "", nil), 200, "")
		}
		for _, p := range legacy {
			for _, tok := range []string{user.Token, guest.Token, "", "not-a-token"} {
				mediaExpect(t, "legacy "+p, mediaDo(t, hs, "GET", p, tok, nil), 200, "")
			}
		}
	})
}

func sep(p string) string {
	if strings.Contains(p, "?") {
		return "&"
	}
	return "?"
}

func TestMediaRoundTripAndHeaders(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		user := hs.RegisterUser(t, "alice")
		body := []byte("hello, media\n")
		id := uploadMedia(t, hs, user.Token, "text/plain; charset=utf-8", "hello world.txt", body)

		r := mediaDo(t, hs, "GET", clientMedia+"/download/"+id, user.Token, nil)
		mediaExpect(t, "download", r, 200, "")
		if !bytes.Equal(r.Raw, body) {
			t.Fatalf("downloaded %q, uploaded %q", r.Raw, body)
		}
		checkHeaders := func(what string, r *testharness.Response, wantType, wantDisp string) {
			t.Helper()
			h := r.Header
			if got := h.Get("Content-Type"); got != wantType {
				t.Errorf("%s: Content-Type %q, want %q", what, got, wantType)
			}
			if got := h.Get("Content-Disposition"); got != wantDisp {
				t.Errorf("%s: Content-Disposition %q, want %q", what, got, wantDisp)
			}
			if got := h.Get("Content-Security-Policy"); got != mediaCSP {
				t.Errorf("%s: Content-Security-Policy %q", what, got)
			}
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("%s: X-Content-Type-Options %q", what, got)
			}
			if got := h.Get("Cross-Origin-Resource-Policy"); got != "cross-origin" {
				t.Errorf("%s: Cross-Origin-Resource-Policy %q", what, got)
			}
		}
		checkHeaders("text download", r, "text/plain; charset=utf-8", `inline; filename="hello world.txt"`)
		r = mediaDo(t, hs, "GET", clientMedia+"/download/"+id+"/renamed.txt", user.Token, nil)
		checkHeaders("renamed download", r, "text/plain; charset=utf-8", `inline; filename=renamed.txt`)
		r = mediaDo(t, hs, "GET", "/_matrix/media/v3/download/"+id, "", nil)
		checkHeaders("legacy download", r, "text/plain; charset=utf-8", `inline; filename="hello world.txt"`)

		// Unsafe types are attachments; no filename means none in the header.
		html := uploadMedia(t, hs, user.Token, "text/html", "", []byte("<script>alert(1)</script>"))
		r = mediaDo(t, hs, "GET", clientMedia+"/download/"+html, user.Token, nil)
		checkHeaders("html download", r, "text/html", "attachment")
		svg := uploadMedia(t, hs, user.Token, "image/svg+xml", "x.svg", []byte("<svg/>"))
		r = mediaDo(t, hs, "GET", clientMedia+"/download/"+svg, user.Token, nil)
		checkHeaders("svg download", r, "image/svg+xml", `attachment; filename=x.svg`)
		// A filename beyond ASCII is encoded (RFC 2231 / 6266).
		uni := uploadMedia(t, hs, user.Token, "image/png", "café.png", pngOf(t, 10, 10))
		r = mediaDo(t, hs, "GET", clientMedia+"/download/"+uni, user.Token, nil)
		checkHeaders("unicode filename", r, "image/png", `inline; filename*=utf-8''caf%C3%A9.png`)
		// No Content-Type means application/octet-stream.
		raw := uploadMedia(t, hs, user.Token, "", "", []byte{0, 1, 2})
		r = mediaDo(t, hs, "GET", clientMedia+"/download/"+raw, user.Token, nil)
		checkHeaders("untyped", r, "application/octet-stream", "attachment")

		// Ranges are served.
		r = mediaDo(t, hs, "GET", clientMedia+"/download/"+id, user.Token, nil, "Range", "bytes=0-4")
		if r.Status != 206 || string(r.Raw) != "hello" {
			t.Fatalf("range: %d %q", r.Status, r.Raw)
		}

		// Thumbnails carry the same protections.
		img := uploadMedia(t, hs, user.Token, "image/png", "p.png", pngOf(t, 200, 200))
		r = mediaDo(t, hs, "GET", clientMedia+"/thumbnail/"+img+"?width=32&height=32&method=crop", user.Token, nil)
		checkHeaders("thumbnail", r, "image/png", `inline; filename="thumbnail.png"`)

		// Unknown and malformed media IDs are 404, never 500 (remote
		// media: federation_media_test.go).
		for _, p := range []string{
			clientMedia + "/download/localhost/doesnotexist",
			clientMedia + "/download/localhost/bad.id",
			clientMedia + "/download/localhost/..%2F..%2Fetc%2Fpasswd",
			clientMedia + "/download/elsewhere.example/bad.id",
			clientMedia + "/thumbnail/localhost/doesnotexist?width=1&height=1",
		} {
			mediaExpect(t, p, mediaDo(t, hs, "GET", p, user.Token, nil), 404, "M_NOT_FOUND")
		}
		// A bad filename is refused before any content is read.
		r = mediaDo(t, hs, "POST", "/_matrix/media/v3/upload?filename=a%00b", user.Token, []byte("x"))
		mediaExpect(t, "control character in filename", r, 400, "M_INVALID_PARAM")
	})
}

// Identical content is stored once, however many mxc URIs name it.
func TestMediaDeduplication(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		user := hs.RegisterUser(t, "alice")
		a := uploadMedia(t, hs, user.Token, "text/plain", "a.txt", []byte("same bytes"))
		b := uploadMedia(t, hs, user.Token, "application/octet-stream", "b.bin", []byte("same bytes"))
		if a == b {
			t.Fatalf("two uploads got the same URI %s", a)
		}
		blobs, temps := mediaFiles(t, hs)
		if len(blobs) != 1 || len(temps) != 0 {
			t.Fatalf("want one stored file and no temporary ones, got %v and %v", blobs, temps)
		}
		uploadMedia(t, hs, user.Token, "text/plain", "", []byte("other bytes"))
		if blobs, _ := mediaFiles(t, hs); len(blobs) != 2 {
			t.Fatalf("want two stored files, got %v", blobs)
		}
		// Both URIs keep their own type and name.
		r := mediaDo(t, hs, "GET", clientMedia+"/download/"+b, user.Token, nil)
		if r.Header.Get("Content-Type") != "application/octet-stream" || string(r.Raw) != "same bytes" ||
			r.Header.Get("Content-Disposition") != "attachment; filename=b.bin" {
			t.Fatalf("second upload: %v %q", r.Header, r.Raw)
		}
		if n := countRows(t, hs, "SELECT COUNT(*) FROM media"); n != 3 {
			t.Fatalf("%d media rows, want 3", n)
		}
	})
}

func TestMediaUploadTooLarge(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.Media.MaxUploadBytes = 1024
		hs := testharness.Start(t, cfg)
		user := hs.RegisterUser(t, "alice")

		r := mediaDo(t, hs, "GET", clientMedia+"/config", user.Token, nil)
		if r.JSON["m.upload.size"] != float64(1024) {
			t.Fatalf("config: %s", r)
		}
		r = mediaDo(t, hs, "POST", "/_matrix/media/v3/upload", user.Token, make([]byte, 1025), "Content-Type", "application/octet-stream")
		mediaExpect(t, "1025 bytes", r, 413, "M_TOO_LARGE")
		uploadMedia(t, hs, user.Token, "application/octet-stream", "", make([]byte, 1024))

		// Without a Content-Length (chunked), the cap applies as it streams.
		req := func(method, path string, n int) *testharness.Response {
			pr := &slowReader{left: n}
			return chunkedDo(t, hs, method, path, user.Token, pr)
		}
		mediaExpect(t, "chunked 4000 bytes", req("POST", "/_matrix/media/v3/upload", 4000), 413, "M_TOO_LARGE")
		mediaExpect(t, "chunked 1000 bytes", req("POST", "/_matrix/media/v3/upload", 1000), 200, "")

		// The asynchronous upload has the same cap.
		c := mediaDo(t, hs, "POST", "/_matrix/media/v1/create", user.Token, nil)
		mediaExpect(t, "create", c, 200, "")
		target := "/_matrix/media/v3/upload/" + strings.TrimPrefix(c.Str("content_uri"), "mxc://")
		r = mediaDo(t, hs, "PUT", target, user.Token, make([]byte, 2048))
		mediaExpect(t, "async 2048 bytes", r, 413, "M_TOO_LARGE")
		mediaExpect(t, "async chunked 4000 bytes", req("PUT", target, 4000), 413, "M_TOO_LARGE")
		mediaExpect(t, "async 10 bytes", mediaDo(t, hs, "PUT", target, user.Token, make([]byte, 10)), 200, "")

		blobs, temps := mediaFiles(t, hs)
		if len(temps) != 0 {
			t.Fatalf("temporary files left: %v", temps)
		}
		// 1024 zeros, 1000 bytes of pattern, 10 zeros.
		if len(blobs) != 3 {
			t.Fatalf("stored files: %v", blobs)
		}
	})
}

// slowReader yields n bytes a little at a time, hiding its length so the
// request is sent chunked.
type slowReader struct{ left int }

// chunkedDo sends body without a Content-Length.
func chunkedDo(t testing.TB, hs *testharness.Homeserver, method, path, token string, body io.Reader) *testharness.Response {
	t.Helper()
	req, err := http.NewRequest(method, hs.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &testharness.Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	_ = json.Unmarshal(raw, &out.JSON)
	if req.ContentLength != 0 || len(req.TransferEncoding) != 0 && req.TransferEncoding[0] != "chunked" {
		t.Fatalf("request was not chunked: %d %v", req.ContentLength, req.TransferEncoding)
	}
	return out
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), s.left, 300)
	for i := range n {
		p[i] = byte(i)
	}
	s.left -= n
	return n, nil
}

func TestMediaAsyncUpload(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")

		before := time.Now().UnixMilli()
		c := mediaDo(t, hs, "POST", "/_matrix/media/v1/create", alice.Token, nil)
		mediaExpect(t, "create", c, 200, "")
		id := strings.TrimPrefix(c.Str("content_uri"), "mxc://")
		if !strings.HasPrefix(id, "localhost/") {
			t.Fatalf("content_uri %q", c.Str("content_uri"))
		}
		exp, _ := c.JSON["unused_expires_at"].(float64)
		if int64(exp) < before+23*3600*1000 {
			t.Fatalf("unused_expires_at %v is not about a day away", c.JSON["unused_expires_at"])
		}

		// Not there yet: 504 at once with timeout_ms=0, on both endpoints.
		mediaExpect(t, "download before upload", mediaDo(t, hs, "GET", clientMedia+"/download/"+id+"?timeout_ms=0", alice.Token, nil), 504, "M_NOT_YET_UPLOADED")
		mediaExpect(t, "thumbnail before upload", mediaDo(t, hs, "GET", clientMedia+"/thumbnail/"+id+"?width=32&height=32&timeout_ms=0", alice.Token, nil), 504, "M_NOT_YET_UPLOADED")
		start := time.Now()
		mediaExpect(t, "short wait", mediaDo(t, hs, "GET", clientMedia+"/download/"+id+"?timeout_ms=300", alice.Token, nil), 504, "M_NOT_YET_UPLOADED")
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Fatalf("timeout_ms=300 answered after %v", d)
		}

		// A waiting download gets the content as soon as it is uploaded.
		got := make(chan *testharness.Response, 1)
		go func() {
			r, err := hs.DoErr("GET", clientMedia+"/download/"+id+"?timeout_ms=15000", bob.Token, nil)
			if err != nil {
				r = &testharness.Response{Status: -1, Raw: []byte(err.Error())}
			}
			got <- r
		}()
		time.Sleep(200 * time.Millisecond)

		mediaExpect(t, "another user's upload", mediaDo(t, hs, "PUT", "/_matrix/media/v3/upload/"+id, bob.Token, []byte("x")), 403, "M_FORBIDDEN")
		uploaded := time.Now()
		mediaExpect(t, "upload", mediaDo(t, hs, "PUT", "/_matrix/media/v3/upload/"+id+"?filename=late.txt", alice.Token, []byte("late content"), "Content-Type", "text/plain"), 200, "")
		select {
		case r := <-got:
			mediaExpect(t, "waiting download", r, 200, "")
			if string(r.Raw) != "late content" || r.Header.Get("Content-Disposition") != "inline; filename=late.txt" {
				t.Fatalf("waiting download got %q %v", r.Raw, r.Header)
			}
			if d := time.Since(uploaded); d > 1500*time.Millisecond {
				t.Fatalf("the waiting download took %v after the upload", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the waiting download did not end")
		}

		mediaExpect(t, "second upload", mediaDo(t, hs, "PUT", "/_matrix/media/v3/upload/"+id, alice.Token, []byte("again")), 409, "M_CANNOT_OVERWRITE_MEDIA")
		mediaExpect(t, "unknown ID", mediaDo(t, hs, "PUT", "/_matrix/media/v3/upload/localhost/neverCreated", alice.Token, []byte("x")), 404, "M_NOT_FOUND")
		mediaExpect(t, "other server", mediaDo(t, hs, "PUT", "/_matrix/media/v3/upload/elsewhere.example/abc", alice.Token, []byte("x")), 404, "M_NOT_FOUND")
		// A direct upload's ID cannot be overwritten either.
		direct := uploadMedia(t, hs, alice.Token, "text/plain", "", []byte("direct"))
		mediaExpect(t, "overwrite a direct upload", mediaDo(t, hs, "PUT", "/_matrix/media/v3/upload/"+direct, alice.Token, []byte("x")), 409, "M_CANNOT_OVERWRITE_MEDIA")
		mediaExpect(t, "bad timeout_ms", mediaDo(t, hs, "GET", clientMedia+"/download/"+id+"?timeout_ms=soon", alice.Token, nil), 400, "M_INVALID_PARAM")

		// Pending IDs per user are limited (429), others are unaffected.
		for i := 0; i < 10; i++ {
			mediaExpect(t, "create more", mediaDo(t, hs, "POST", "/_matrix/media/v1/create", bob.Token, nil), 200, "")
		}
		mediaExpect(t, "one too many", mediaDo(t, hs, "POST", "/_matrix/media/v1/create", bob.Token, nil), 429, "M_LIMIT_EXCEEDED")
		mediaExpect(t, "another user", mediaDo(t, hs, "POST", "/_matrix/media/v1/create", alice.Token, nil), 200, "")
	})
}

func TestMediaThumbnails(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		user := hs.RegisterUser(t, "alice")
		type want struct {
			query  string
			w, h   int
			format string // of the answer: "png", "jpeg", "gif"
			orig   bool   // the original bytes
		}
		cases := []struct {
			name, ct string
			body     []byte
			wants    []want
		}{
			{"png 1000x800", "image/png", pngOf(t, 1000, 800), []want{
				{"width=300&height=200&method=scale", 300, 240, "png", false},
				{"width=300&height=200", 300, 240, "png", false}, // scale is the default
				{"width=640&height=480&method=scale", 600, 480, "png", false},
				{"width=700&height=500&method=scale", 750, 600, "png", false},
				{"width=32&height=32&method=crop", 32, 32, "png", false},
				{"width=64&height=64&method=crop", 96, 96, "png", false},
				{"width=100&height=100&method=crop", 300, 240, "png", false},
				{"width=900&height=900&method=scale", 1000, 800, "png", true},
				{"width=1200&height=100&method=crop", 1000, 800, "png", true},
			}},
			{"jpeg 1000x800", "image/jpeg", jpegOf(t, 1000, 800), []want{
				{"width=300&height=200&method=scale", 300, 240, "jpeg", false},
				{"width=96&height=96&method=crop", 96, 96, "jpeg", false},
				{"width=5000&height=5000&method=scale", 1000, 800, "jpeg", true},
			}},
			{"gif 400x300", "image/gif", gifOf(t, 400, 300, 1), []want{
				{"width=300&height=200&method=scale", 320, 240, "png", false},
				{"width=32&height=32&method=crop", 32, 32, "png", false},
			}},
			{"animated gif 60x40", "image/gif", gifOf(t, 60, 40, 3), []want{
				// Smaller than asked: a static first frame unless animated=true.
				{"width=320&height=240", 60, 40, "png", false},
				{"width=320&height=240&animated=false", 60, 40, "png", false},
				{"width=320&height=240&animated=true", 60, 40, "gif", true},
				{"width=32&height=32&method=crop&animated=true", 32, 32, "png", false},
			}},
			{"webp 1000x800", "image/webp", solidWebP(1000, 800, color.NRGBA{200, 40, 90, 255}), []want{
				{"width=300&height=200&method=scale", 300, 240, "png", false},
				{"width=96&height=96&method=crop", 96, 96, "png", false},
				{"width=2000&height=2000", 1000, 800, "webp", true},
			}},
			{"png 20x20", "image/png", pngOf(t, 20, 20), []want{
				{"width=32&height=32&method=crop", 20, 20, "png", true},
				{"width=320&height=240&method=scale", 20, 20, "png", true},
			}},
		}
		ids := map[string]string{}
		for _, c := range cases {
			id := uploadMedia(t, hs, user.Token, c.ct, "", c.body)
			ids[c.name] = id
			for _, w := range c.wants {
				what := c.name + " " + w.query
				r := mediaDo(t, hs, "GET", clientMedia+"/thumbnail/"+id+"?"+w.query, user.Token, nil)
				mediaExpect(t, what, r, 200, "")
				gw, gh, format := imageSize(t, r.Raw)
				if gw != w.w || gh != w.h || format != w.format {
					t.Errorf("%s: got %dx%d %s, want %dx%d %s", what, gw, gh, format, w.w, w.h, w.format)
				}
				if ct := r.Header.Get("Content-Type"); ct != "image/"+w.format {
					t.Errorf("%s: Content-Type %q", what, ct)
				}
				if bytes.Equal(r.Raw, c.body) != w.orig {
					t.Errorf("%s: original served = %v, want %v", what, !w.orig, w.orig)
				}
				// A second request is served from the cache, identically.
				again := mediaDo(t, hs, "GET", "/_matrix/media/v3/thumbnail/"+id+"?"+w.query, "", nil)
				if again.Status != 200 || !bytes.Equal(again.Raw, r.Raw) {
					t.Errorf("%s: second answer differs: %d", what, again.Status)
				}
			}
		}

		// Thumbnails are generated once per size box, whatever was asked:
		// png 5 (scale 320x240, 640x480, 800x600; crop 32, 96), jpeg 2,
		// gif 2, animated gif 2 (its static frame, crop 32), webp 2.
		if n := countRows(t, hs, "SELECT COUNT(*) FROM media_thumbnails"); n != 13 {
			t.Errorf("%d cached thumbnails, want 13", n)
		}

		// A cached thumbnail is served as stored, not made again: change
		// the stored bytes and they are what comes back.
		var sha string
		err := hs.Server.DB.Read.QueryRow(`SELECT sha256 FROM media_thumbnails WHERE media_id = $1 AND width = 800 AND height = 600`,
			strings.TrimPrefix(ids["png 1000x800"], "localhost/")).Scan(&sha)
		if err != nil {
			t.Fatal(err)
		}
		stored := filepath.Join(hs.Config.DataDir, "media", sha[0:2], sha[2:4], sha)
		if err := os.WriteFile(stored, []byte("from the cache"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := mediaDo(t, hs, "GET", clientMedia+"/thumbnail/"+ids["png 1000x800"]+"?width=700&height=500", user.Token, nil)
		if string(r.Raw) != "from the cache" {
			t.Fatalf("the 800x600 thumbnail was not served from the cache: %d, %d bytes", r.Status, len(r.Raw))
		}

		// What cannot be thumbnailed.
		text := uploadMedia(t, hs, user.Token, "text/plain", "", []byte("not an image"))
		mediaExpect(t, "text", mediaDo(t, hs, "GET", clientMedia+"/thumbnail/"+text+"?width=32&height=32", user.Token, nil), 400, "M_UNKNOWN")
		fake := uploadMedia(t, hs, user.Token, "image/png", "", []byte("<html>not a png</html>"))
		mediaExpect(t, "fake png", mediaDo(t, hs, "GET", clientMedia+"/thumbnail/"+fake+"?width=32&height=32", user.Token, nil), 400, "M_UNKNOWN")
		cut := pngOf(t, 300, 300)
		truncated := uploadMedia(t, hs, user.Token, "image/png", "", cut[:len(cut)/2])
		mediaExpect(t, "truncated png", mediaDo(t, hs, "GET", clientMedia+"/thumbnail/"+truncated+"?width=32&height=32&method=crop", user.Token, nil), 400, "M_UNKNOWN")

		// Bad parameters.
		img := uploadMedia(t, hs, user.Token, "image/png", "", pngOf(t, 100, 100))
		for q, code := range map[string]string{
			"height=32":                         "M_MISSING_PARAM",
			"width=32":                          "M_MISSING_PARAM",
			"width=-1&height=32":                "M_INVALID_PARAM",
			"width=0&height=32":                 "M_INVALID_PARAM",
			"width=1.5&height=32":               "M_INVALID_PARAM",
			"width=32&height=32&method=stretch": "M_INVALID_PARAM",
			"width=32&height=32&animated=maybe": "M_INVALID_PARAM",
		} {
			mediaExpect(t, q, mediaDo(t, hs, "GET", clientMedia+"/thumbnail/"+img+"?"+q, user.Token, nil), 400, code)
		}
		// A huge requested size is not an error: the original is the answer.
		r = mediaDo(t, hs, "GET", clientMedia+"/thumbnail/"+img+"?width=2000000000&height=1", user.Token, nil)
		mediaExpect(t, "huge width", r, 200, "")
	})
}

// A decompression bomb is refused from its header, quickly and without
// allocating what it claims.
func TestMediaThumbnailDecompressionBomb(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		user := hs.RegisterUser(t, "alice")
		bombs := []struct {
			name, ct string
			body     []byte
		}{
			{"png 100000x100000", "image/png", pngBomb(100000, 100000)},
			{"png 8000x8000 (64 Mpx)", "image/png", pngBomb(8000, 8000)},
			{"png 20000x10 (too wide)", "image/png", pngBomb(20000, 10)},
			{"gif 65535x65535", "image/gif", gifBomb(65535, 65535)},
			{"webp 16384x16384", "image/webp", solidWebP(16384, 16384, color.NRGBA{1, 2, 3, 255})},
		}
		for _, b := range bombs {
			id := uploadMedia(t, hs, user.Token, b.ct, "", b.body)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			for _, q := range []string{"width=32&height=32&method=crop", "width=800&height=600&method=scale"} {
				r := mediaDo(t, hs, "GET", clientMedia+"/thumbnail/"+id+"?"+q, user.Token, nil)
				mediaExpect(t, b.name, r, 413, "M_TOO_LARGE")
			}
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if elapsed > 2*time.Second {
				t.Errorf("%s: refusing took %v", b.name, elapsed)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("%s: %d MiB allocated while refusing", b.name, alloc>>20)
			}
			// Downloading it is still fine: it is only bytes.
			mediaExpect(t, b.name+" download", mediaDo(t, hs, "GET", clientMedia+"/download/"+id, user.Token, nil), 200, "")
		}
		if n := countRows(t, hs, "SELECT COUNT(*) FROM media_thumbnails"); n != 0 {
			t.Fatalf("%d thumbnails of bombs cached", n)
		}
	})
}

// An upload whose connection drops midway leaves nothing: no file, no
// temporary file, no row; an asynchronous one stays pending.
func TestMediaInterruptedUpload(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		user := hs.RegisterUser(t, "alice")
		addr := strings.TrimPrefix(hs.URL, "http://")

		cutOff := func(method, path string) {
			t.Helper()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
				method, path, addr, user.Token, 8<<20)
			if _, err := conn.Write(bytes.Repeat([]byte("partial "), (1<<20)/8)); err != nil {
				t.Fatal(err)
			}
			// The server is writing a temporary file by now.
			deadline := time.Now().Add(5 * time.Second)
			for {
				if _, temps := mediaFiles(t, hs); len(temps) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the server never started storing the upload")
				}
				time.Sleep(10 * time.Millisecond)
			}
			conn.Close()
			// ...and removes it once it sees the connection is gone.
			for {
				blobs, temps := mediaFiles(t, hs)
				if len(temps) == 0 {
					if len(blobs) != 0 {
						t.Fatalf("files left behind: %v", blobs)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("temporary files left behind: %v", temps)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}

		cutOff("POST", "/_matrix/media/v3/upload?filename=big.bin")
		if n := countRows(t, hs, "SELECT COUNT(*) FROM media"); n != 0 {
			t.Fatalf("%d media rows after a cut-off upload", n)
		}

		c := mediaDo(t, hs, "POST", "/_matrix/media/v1/create", user.Token, nil)
		mediaExpect(t, "create", c, 200, "")
		id := strings.TrimPrefix(c.Str("content_uri"), "mxc://")
		cutOff("PUT", "/_matrix/media/v3/upload/"+id)
		mediaExpect(t, "still pending", mediaDo(t, hs, "GET", clientMedia+"/download/"+id+"?timeout_ms=0", user.Token, nil), 504, "M_NOT_YET_UPLOADED")
		// The client may try again and succeed.
		mediaExpect(t, "retry", mediaDo(t, hs, "PUT", "/_matrix/media/v3/upload/"+id, user.Token, []byte("whole")), 200, "")
		r := mediaDo(t, hs, "GET", clientMedia+"/download/"+id, user.Token, nil)
		if r.Status != 200 || string(r.Raw) != "whole" {
			t.Fatalf("after retry: %s", r)
		}
		if blobs, temps := mediaFiles(t, hs); len(blobs) != 1 || len(temps) != 0 {
			t.Fatalf("files: %v %v", blobs, temps)
		}
	})
}

// The legacy unauthenticated endpoints: served when on, 404 when off, and
// frozen for media uploaded from media.freeze_legacy_after on.
func TestMediaLegacyEndpoints(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		legacyPaths := func(id string) []string {
			return []string{
				"/_matrix/media/v3/download/" + id,
				"/_matrix/media/r0/download/" + id,
				"/_matrix/media/v3/download/" + id + "/f.png",
				"/_matrix/media/v3/thumbnail/" + id + "?width=32&height=32&method=crop",
				"/_matrix/media/r0/thumbnail/" + id + "?width=32&height=32&method=crop",
			}
		}
		img := pngOf(t, 100, 100)

		// On (the default).
		cfg := testharness.Config(t, backend)
		hs := testharness.Start(t, cfg)
		user := hs.RegisterUser(t, "alice")
		old := uploadMedia(t, hs, user.Token, "image/png", "", img)
		for _, p := range legacyPaths(old) {
			mediaExpect(t, "legacy on "+p, mediaDo(t, hs, "GET", p, "", nil), 200, "")
		}

		// The server restarted on the same data freezes from now on: the
		// media uploaded before keeps working, new media is
		// authenticated-only.
		time.Sleep(5 * time.Millisecond)
		hs.Stop(t)
		frozen := cfg
		frozen.Listen = "127.0.0.1:0"
		frozen.Media.FreezeLegacyAfter = time.Now().UTC().Format(time.RFC3339Nano)
		hs2 := testharness.Start(t, frozen)
		for _, p := range legacyPaths(old) {
			mediaExpect(t, "frozen, old media "+p, mediaDo(t, hs2, "GET", p, "", nil), 200, "")
		}
		newer := uploadMedia(t, hs2, user.Token, "image/png", "", pngOf(t, 50, 50))
		for _, p := range legacyPaths(newer) {
			mediaExpect(t, "frozen, new media "+p, mediaDo(t, hs2, "GET", p, "", nil), 404, "M_NOT_FOUND")
		}
		mediaExpect(t, "frozen, new media authenticated", mediaDo(t, hs2, "GET", clientMedia+"/download/"+newer, user.Token, nil), 200, "")

		// Off: nothing on the legacy endpoints, everything on the new ones.
		hs2.Stop(t)
		off := cfg
		off.Listen = "127.0.0.1:0"
		off.Media.LegacyUnauthenticated = false
		hs3 := testharness.Start(t, off)
		for _, id := range []string{old, newer} {
			for _, p := range legacyPaths(id) {
				mediaExpect(t, "legacy off "+p, mediaDo(t, hs3, "GET", p, user.Token, nil), 404, "M_NOT_FOUND")
			}
			mediaExpect(t, "legacy off, authenticated", mediaDo(t, hs3, "GET", clientMedia+"/download/"+id, user.Token, nil), 200, "")
		}
	})
}

// The media settings: defaults, environment, and what Validate refuses.
// (No database is involved, so this runs once rather than per backend.)
func TestMediaConfig(t *testing.T) {
	def := config.Default()
	if def.Media.MaxUploadBytes != 50<<20 || !def.Media.LegacyUnauthenticated || def.Media.FreezeLegacyAfter != "" {
		t.Fatalf("defaults: %+v", def.Media)
	}
	flags := flag.NewFlagSet("test", flag.ContinueOnError)
	f := config.RegisterFlags(flags)
	if err := flags.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.Resolve(flags, []string{
		"FOYER_MEDIA_MAX_UPLOAD_BYTES=1000",
		"FOYER_MEDIA_LEGACY_UNAUTHENTICATED=false",
		"FOYER_MEDIA_FREEZE_LEGACY_AFTER=2024-09-01T00:00:00Z",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Media.MaxUploadBytes != 1000 || cfg.Media.LegacyUnauthenticated ||
		!cfg.Media.FreezeLegacyAfterTime().Equal(time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("from the environment: %+v", cfg.Media)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid settings refused: %v", err)
	}
	for _, bad := range []func(*config.Config){
		func(c *config.Config) { c.Media.MaxUploadBytes = 0 },
		func(c *config.Config) { c.Media.FreezeLegacyAfter = "yesterday" },
	} {
		c := config.Default()
		bad(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "media.") {
			t.Errorf("%+v: want a media.* error, got %v", c.Media, err)
		}
	}
}

// Helpers.

// mediaDo sends a request with a raw body and the given headers
// ("Content-Type", "image/png", ...). token may be "".
func mediaDo(t testing.TB, hs *testharness.Homeserver, method, path, token string, body []byte, headers ...string) *testharness.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, hs.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	out := &testharness.Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(raw, &out.JSON)
	}
	return out
}

// mediaExpect fails unless r has the status and errcode ("" for none).
func mediaExpect(t testing.TB, what string, r *testharness.Response, status int, errcode string) {
	t.Helper()
	if r.Status != status || r.Errcode() != errcode {
		body := string(r.Raw)
		if len(body) > 300 {
			body = body[:300] + "..."
		}
		t.Fatalf("%s: want %d %q, got %d %s", what, status, errcode, r.Status, body)
	}
}

// uploadMedia uploads body and returns "server/mediaId" of its mxc URI.
func uploadMedia(t testing.TB, hs *testharness.Homeserver, token, contentType, filename string, body []byte) string {
	t.Helper()
	path := "/_matrix/media/v3/upload"
	if filename != "" {
		path += "?filename=" + testharness.PathEscape(filename)
	}
	r := mediaDo(t, hs, "POST", path, token, body, "Content-Type", contentType)
	mediaExpect(t, "upload", r, 200, "")
	uri := r.Str("content_uri")
	rest, ok := strings.CutPrefix(uri, "mxc://"+hs.Config.ServerName+"/")
	if !ok || rest == "" {
		t.Fatalf("content_uri %q is not mxc://%s/<id>", uri, hs.Config.ServerName)
	}
	return hs.Config.ServerName + "/" + rest
}

// mediaFiles lists the content files and the temporary files under the
// data dir's media store.
func mediaFiles(t testing.TB, hs *testharness.Homeserver) (blobs, temps []string) {
	t.Helper()
	root := filepath.Join(hs.Config.DataDir, "media")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if filepath.Base(filepath.Dir(p)) == "tmp" {
			temps = append(temps, p)
		} else {
			blobs = append(blobs, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return blobs, temps
}

// countRows counts a table's rows straight from the server's database.
func countRows(t testing.TB, hs *testharness.Homeserver, query string, args ...any) int {
	t.Helper()
	var n int
	if err := hs.Server.DB.Read.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// testPicture is a colourful w x h picture.
func testPicture(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255})
		}
	}
	return img
}

func pngOf(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, testPicture(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegOf(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testPicture(w, h), &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gifOf is a GIF of the given number of frames.
func gifOf(t testing.TB, w, h, frames int) []byte {
	g := &gif.GIF{}
	for f := 0; f < frames; f++ {
		p := image.NewPaletted(image.Rect(0, 0, w, h), palette.WebSafe)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p.SetColorIndex(x, y, uint8((x/8+y/8+f)%len(palette.WebSafe)))
			}
		}
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// solidWebP is a lossless WebP (VP8L) of one colour, written by hand: with
// every prefix code a single symbol, the pixels take no bits at all, so
// any size is a few dozen bytes. (The standard library has no WebP
// encoder.)
func solidWebP(w, h int, c color.NRGBA) []byte {
	var bits []byte
	var acc uint64
	var n uint
	put := func(v uint64, k uint) {
		acc |= v << n
		n += k
		for n >= 8 {
			bits = append(bits, byte(acc))
			acc >>= 8
			n -= 8
		}
	}
	put(0x2f, 8) // VP8L signature
	put(uint64(w-1), 14)
	put(uint64(h-1), 14)
	put(1, 1) // alpha is used
	put(0, 3) // version 0
	put(0, 1) // no transforms
	put(0, 1) // no colour cache
	put(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A} {
		put(1, 1) // simple code
		put(0, 1) // of one symbol
		put(1, 1) // written in 8 bits
		put(uint64(sym), 8)
	}
	put(1, 1) // distance code: simple, one symbol of 1 bit, 0
	put(0, 1)
	put(0, 1)
	put(0, 1)
	if n > 0 {
		bits = append(bits, byte(acc))
	}
	chunk := bits
	if len(chunk)%2 == 1 {
		chunk = append(chunk, 0)
	}
	var out bytes.Buffer
	out.WriteString("RIFF")
	_ = binary.Write(&out, binary.LittleEndian, uint32(4+8+len(chunk)))
	out.WriteString("WEBPVP8L")
	_ = binary.Write(&out, binary.LittleEndian, uint32(len(bits)))
	out.Write(chunk)
	return out.Bytes()
}

// pngBomb is a PNG whose header claims w x h 8-bit grey pixels, followed
// by a small compressed stream of zeros: a decoder that trusts the header
// allocates w*h bytes.
func pngBomb(w, h uint32) []byte {
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&out, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		out.WriteString(typ)
		out.Write(data)
		_ = binary.Write(&out, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 0 // 8-bit greyscale
	chunk("IHDR", ihdr)
	// A zlib stream of 64 KiB of zeros: a few hundred bytes.
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(make([]byte, 64<<10))
	_ = zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

// gifBomb is a GIF whose logical screen claims w x h.
func gifBomb(w, h uint16) []byte {
	var out bytes.Buffer
	out.WriteString("GIF89a")
	_ = binary.Write(&out, binary.LittleEndian, w)
	_ = binary.Write(&out, binary.LittleEndian, h)
	out.Write([]byte{0x80, 0, 0}) // global colour table of 2 entries
	out.Write([]byte{0, 0, 0, 255, 255, 255})
	out.WriteByte(0x2c) // image descriptor covering the screen
	_ = binary.Write(&out, binary.LittleEndian, [4]uint16{0, 0, w, h})
	out.WriteByte(0)
	out.Write([]byte{2, 2, 0x4c, 0x01, 0}) // minimal LZW data
	out.WriteByte(0x3b)
	return out.Bytes()
}

// imageSize decodes an answer's image header.
func imageSize(t testing.TB, raw []byte) (int, int, string) {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the answer is not an image: %v", err)
	}
	return cfg.Width, cfg.Height, format
}

// An uploaded image works as a user's avatar and as a room's avatar, end
// to end: set, shown in member events and state, and downloadable (also
// by a guest) through the authenticated endpoint.
func TestAvatarsWithUploadedMedia(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		guest := hs.RegisterGuest(t)
		img := pngOf(t, 64, 64)
		id := uploadMedia(t, hs, alice.Token, "image/png", "me.png", img)
		mxc := "mxc://" + id
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat",
			"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}}})
		expect(t, hs.Do(t, "PUT", cs+"/profile/"+testharness.PathEscape(alice.UserID)+"/avatar_url", alice.Token, map[string]any{"avatar_url": mxc}), 200, "")
		if m := stateContent(t, hs, alice.Token, room, "m.room.member", alice.UserID); m.Str("avatar_url") != mxc {
			t.Fatalf("member event lacks the avatar: %s", m)
		}
		expect(t, putState(t, hs, alice.Token, room, "m.room.avatar", "", map[string]any{"url": mxc, "info": map[string]any{"mimetype": "image/png"}}), 200, "")
		if a := stateContent(t, hs, alice.Token, room, "m.room.avatar", ""); a.Str("url") != mxc {
			t.Fatalf("room avatar: %s", a)
		}
		mustJoin(t, hs, guest.Token, room)
		for _, path := range []string{"/_matrix/client/v1/media/download/" + id, "/_matrix/client/v1/media/thumbnail/" + id + "?width=32&height=32&method=crop"} {
			r := hs.Do(t, "GET", path, guest.Token, nil)
			if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "image/") {
				t.Fatalf("%s as a guest: %d %s", path, r.Status, r.Header.Get("Content-Type"))
			}
		}
	})
}
