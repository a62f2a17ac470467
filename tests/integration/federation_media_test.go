package integration

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/outbound/outboundtest"
	"foyer/internal/testharness"
)

// A user of B uploads; a user of A downloads it through A, which fetches
// it over federation (multipart/mixed from B's federation endpoint) and
// keeps it: later downloads and thumbnails are served while B is down.
func TestFederationMediaDownloadCachedFromOrigin(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		a, b := servers[0], servers[1]
		alice, bob := a.RegisterUser(t, "alice"), b.RegisterUser(t, "bob")
		picture := pngOf(t, 400, 300)
		mxc := uploadMedia(t, b, bob.Token, "image/png", "holiday photo.png", picture)
		other := uploadMedia(t, b, bob.Token, "image/png", "", pngOf(t, 200, 100))

		r := mediaDo(t, a, "GET", clientMedia+"/download/"+mxc, alice.Token, nil)
		mediaExpect(t, "first download through A", r, 200, "")
		if !bytes.Equal(r.Raw, picture) {
			t.Fatalf("A served %d bytes, not the %d uploaded to B", len(r.Raw), len(picture))
		}
		if ct := r.Header.Get("Content-Type"); ct != "image/png" {
			t.Errorf("Content-Type %q, want image/png", ct)
		}
		if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "inline") || !strings.Contains(cd, `filename="holiday photo.png"`) {
			t.Errorf("Content-Disposition %q, want inline with the uploaded filename", cd)
		}
		r = mediaDo(t, a, "GET", clientMedia+"/download/"+mxc+"/renamed.png", alice.Token, nil)
		if cd := r.Header.Get("Content-Disposition"); r.Status != 200 || !strings.Contains(cd, `filename=renamed.png`) {
			t.Errorf("download with a filename: %d, Content-Disposition %q", r.Status, cd)
		}
		if n := countRows(t, a, "SELECT COUNT(*) FROM remote_media WHERE origin = $1", b.Config.ServerName); n != 1 {
			t.Fatalf("A has %d remote_media rows of B, want 1", n)
		}

		// Not found at the origin: 404, nothing kept.
		r = mediaDo(t, a, "GET", clientMedia+"/download/"+b.Config.ServerName+"/NoSuchMedia", alice.Token, nil)
		mediaExpect(t, "download of media B does not have", r, 404, "M_NOT_FOUND")

		// A thumbnail of media whose original A does not have comes from B.
		r = mediaDo(t, a, "GET", clientMedia+"/thumbnail/"+other+"?width=32&height=32&method=crop", alice.Token, nil)
		mediaExpect(t, "thumbnail fetched from B", r, 200, "")
		if w, h, _ := imageSize(t, r.Raw); w != 32 || h != 32 {
			t.Errorf("B's thumbnail through A is %dx%d, want 32x32", w, h)
		}
		if n := countRows(t, a, "SELECT COUNT(*) FROM remote_media_thumbnails WHERE origin = $1", b.Config.ServerName); n != 1 {
			t.Errorf("A kept %d thumbnails of B's media, want 1", n)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Server.Stop(ctx); err != nil {
			t.Fatal(err)
		}

		// B is down: what A has is served, the rest fails as a bad gateway.
		r = mediaDo(t, a, "GET", clientMedia+"/download/"+mxc, alice.Token, nil)
		mediaExpect(t, "cached download with B down", r, 200, "")
		if !bytes.Equal(r.Raw, picture) {
			t.Fatal("the cached download differs from the upload")
		}
		r = mediaDo(t, a, "GET", clientMedia+"/thumbnail/"+mxc+"?width=96&height=96&method=crop", alice.Token, nil)
		mediaExpect(t, "thumbnail of the cached original with B down", r, 200, "")
		if w, h, _ := imageSize(t, r.Raw); w != 96 || h != 96 {
			t.Errorf("thumbnail made by A is %dx%d, want 96x96", w, h)
		}
		r = mediaDo(t, a, "GET", clientMedia+"/thumbnail/"+other+"?width=20&height=20&method=crop", alice.Token, nil)
		mediaExpect(t, "cached remote thumbnail with B down", r, 200, "")
		r = mediaDo(t, a, "GET", "/_matrix/media/v3/download/"+mxc, "", nil)
		mediaExpect(t, "legacy download of cached remote media", r, 200, "")
		r = mediaDo(t, a, "GET", clientMedia+"/download/"+other, alice.Token, nil)
		mediaExpect(t, "uncached download with B down", r, 502, "M_UNKNOWN")
		if n := countRows(t, a, "SELECT COUNT(*) FROM remote_media"); n != 1 {
			t.Errorf("%d remote_media rows after a failed fetch, want 1", n)
		}
	})
}

// B serves its own media to a signed request as the spec's
// multipart/mixed, and nothing else.
func TestFederationMediaServedAsMultipart(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 2, nil)
	a, b := servers[0], servers[1]
	bob := b.RegisterUser(t, "bob")
	alice := a.RegisterUser(t, "alice")
	key := a.SigningKey(t)
	signed := func(path string) *testharness.Response {
		return b.SignedRequest(t, key, a.Config.ServerName, b.Config.ServerName, "GET", path, nil)
	}
	body := []byte("plain text, served as an attachment? no: text/plain is inline")
	mxc := uploadMedia(t, b, bob.Token, "text/plain", "notes.txt", body)
	id := strings.TrimPrefix(mxc, b.Config.ServerName+"/")

	r := signed("/_matrix/federation/v1/media/download/" + id)
	if r.Status != 200 {
		t.Fatalf("signed download: %s", r)
	}
	parts := multipartParts(t, r)
	if parts[0].header.Get("Content-Type") != "application/json" || string(parts[0].body) != "{}" {
		t.Errorf("metadata part: %v %q", parts[0].header, parts[0].body)
	}
	if !bytes.Equal(parts[1].body, body) || parts[1].header.Get("Content-Type") != "text/plain" ||
		parts[1].header.Get("Content-Disposition") != `inline; filename=notes.txt` {
		t.Errorf("content part: %v %q", parts[1].header, parts[1].body)
	}

	picture := uploadMedia(t, b, bob.Token, "image/png", "", pngOf(t, 300, 200))
	r = signed("/_matrix/federation/v1/media/thumbnail/" + strings.TrimPrefix(picture, b.Config.ServerName+"/") + "?width=32&height=32&method=crop")
	if r.Status != 200 {
		t.Fatalf("signed thumbnail: %s", r)
	}
	parts = multipartParts(t, r)
	if w, h, _ := imageSize(t, parts[1].body); w != 32 || h != 32 || parts[1].header.Get("Content-Type") != "image/png" {
		t.Errorf("thumbnail part %v is %dx%d", parts[1].header, w, h)
	}

	mediaExpect(t, "thumbnail of text", signed("/_matrix/federation/v1/media/thumbnail/"+id+"?width=32&height=32"), 400, "M_UNKNOWN")
	mediaExpect(t, "unknown media", signed("/_matrix/federation/v1/media/download/NoSuchMedia"), 404, "M_NOT_FOUND")
	mediaExpect(t, "unsigned", mediaDo(t, b, "GET", "/_matrix/federation/v1/media/download/"+id, "", nil), 401, "M_UNAUTHORIZED")
	pending := mediaDo(t, b, "POST", "/_matrix/media/v1/create", bob.Token, nil)
	pendingID := pending.Str("content_uri")[strings.LastIndex(pending.Str("content_uri"), "/")+1:]
	mediaExpect(t, "pending media", signed("/_matrix/federation/v1/media/download/"+pendingID+"?timeout_ms=100"), 504, "M_NOT_YET_UPLOADED")

	// Media A keeps of B is B's, not A's: A does not serve it as its own.
	mediaExpect(t, "A fetches B's media", mediaDo(t, a, "GET", clientMedia+"/download/"+mxc, alice.Token, nil), 200, "")
	bKey := b.SigningKey(t)
	r = a.SignedRequest(t, bKey, b.Config.ServerName, a.Config.ServerName, "GET", "/_matrix/federation/v1/media/download/"+id, nil)
	mediaExpect(t, "A asked for B's media as its own", r, 404, "M_NOT_FOUND")
}

// Content over A's upload limit is refused as 502 M_TOO_LARGE, and
// nothing of it is kept.
func TestFederationMediaTooLarge(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, func(i int, c *config.Config) {
			if i == 0 {
				c.Media.MaxUploadBytes = 1000
			}
		})
		a, b := servers[0], servers[1]
		alice, bob := a.RegisterUser(t, "alice"), b.RegisterUser(t, "bob")
		mxc := uploadMedia(t, b, bob.Token, "application/octet-stream", "", bytes.Repeat([]byte("x"), 5000))
		r := mediaDo(t, a, "GET", clientMedia+"/download/"+mxc, alice.Token, nil)
		mediaExpect(t, "download over the limit", r, 502, "M_TOO_LARGE")
		if n := countRows(t, a, "SELECT COUNT(*) FROM remote_media"); n != 0 {
			t.Errorf("%d remote_media rows after a refused fetch", n)
		}
		if blobs, temps := mediaFiles(t, a); len(blobs) != 0 || len(temps) != 0 {
			t.Errorf("A kept files of a refused fetch: %v %v", blobs, temps)
		}
		exact := uploadMedia(t, b, bob.Token, "application/octet-stream", "", bytes.Repeat([]byte("y"), 1000))
		mediaExpect(t, "download at the limit", mediaDo(t, a, "GET", clientMedia+"/download/"+exact, alice.Token, nil), 200, "")
	})
}

// fakeOrigin is a TLS server named localhost:PORT that answers media
// requests as the test says, with a certificate from ca.
type fakeOrigin struct {
	name     string
	requests atomic.Int32
	mu       sync.Mutex
	seen     []string
}

func startFakeOrigin(t *testing.T, ca *outboundtest.CA, h func(w http.ResponseWriter, r *http.Request)) *fakeOrigin {
	t.Helper()
	f := &fakeOrigin{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		f.mu.Lock()
		f.seen = append(f.seen, r.URL.RequestURI())
		f.mu.Unlock()
		h(w, r)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.TLS = ca.ServerTLSConfig(t, "localhost")
	srv.StartTLS()
	t.Cleanup(srv.Close)
	f.name = fmt.Sprintf("localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	return f
}

func (f *fakeOrigin) paths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

// writeMultipart answers as the spec's media endpoints do; a content
// part with a "Location" header and no body redirects.
func writeMultipart(w http.ResponseWriter, contentHeader textproto.MIMEHeader, content []byte) {
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	meta, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	io.WriteString(meta, "{}")
	part, _ := mw.CreatePart(contentHeader)
	part.Write(content)
	mw.Close()
}

// A user of A downloads through A from origins that are not Foyer:
// concurrent requests make one fetch; an origin without the federation
// endpoint is asked at the legacy one; a Location part is followed; an
// answer cut off midway, or a stalled one, is a bad gateway leaving
// nothing behind; an origin without thumbnails gets one made by A.
func TestFederationMediaFromOtherOrigins(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		ca := outboundtest.NewCA(t)
		caFile := ca.WriteFile(t)
		a := testharness.StartFederation(t, backend, 1, func(_ int, c *config.Config) {
			c.Outbound.TrustedCAFile = caFile
			c.Media.RemoteFetchTimeout = 2 * time.Second
			c.Media.MaxConcurrentRemoteFetches = 1
		})[0]
		alice := a.RegisterUser(t, "alice")
		picture := pngOf(t, 300, 200)
		release := make(chan struct{})
		located := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Content-Disposition", `inline; filename="located.png"`)
			w.Write(picture)
		}))
		t.Cleanup(located.Close)

		origin := startFakeOrigin(t, ca, func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/_matrix/federation/v1/media/download/Slow":
				<-release
				writeMultipart(w, textproto.MIMEHeader{"Content-Type": {"image/png"}}, picture)
			case r.URL.Path == "/_matrix/federation/v1/media/download/Located":
				writeMultipart(w, textproto.MIMEHeader{"Location": {located.URL + "/file"}}, nil)
			case r.URL.Path == "/_matrix/federation/v1/media/download/FileLocation":
				writeMultipart(w, textproto.MIMEHeader{"Location": {"file:///etc/passwd"}}, nil)
			case r.URL.Path == "/_matrix/federation/v1/media/download/CutOff":
				mw := multipart.NewWriter(w)
				w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
				meta, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
				io.WriteString(meta, "{}")
				part, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"image/png"}})
				part.Write(picture[:len(picture)/2]) // and no closing boundary
			case r.URL.Path == "/_matrix/federation/v1/media/download/Stalled":
				w.Header().Set("Content-Type", "multipart/mixed; boundary=b")
				w.(http.Flusher).Flush()
				time.Sleep(4 * time.Second)
			case r.URL.Path == "/_matrix/federation/v1/media/download/NoThumbs":
				writeMultipart(w, textproto.MIMEHeader{"Content-Type": {"image/png"}}, picture)
			case r.URL.Path == "/_matrix/federation/v1/media/thumbnail/NoThumbs":
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				io.WriteString(w, `{"errcode":"M_UNKNOWN","error":"Cannot generate thumbnails"}`)
			case strings.HasPrefix(r.URL.Path, "/_matrix/federation/"):
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(404)
				io.WriteString(w, `{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}`)
			case strings.HasPrefix(r.URL.Path, "/_matrix/media/v3/download/") && strings.HasSuffix(r.URL.Path, "/Old") &&
				r.URL.Query().Get("allow_remote") == "false":
				w.Header().Set("Content-Type", "text/plain")
				w.Header().Set("Content-Disposition", `attachment; filename="old.txt"`)
				io.WriteString(w, "from an older server")
			default:
				w.WriteHeader(404)
			}
		})
		get := func(id string) *testharness.Response {
			return mediaDo(t, a, "GET", clientMedia+"/download/"+origin.name+"/"+id, alice.Token, nil)
		}

		// Five at once, while the origin holds its answer: one request.
		results := make(chan *testharness.Response, 5)
		for range 5 {
			go func() {
				r, err := testharness.Request(http.DefaultClient, a.URL, "GET", clientMedia+"/download/"+origin.name+"/Slow", alice.Token, nil)
				if err != nil {
					r = &testharness.Response{Raw: []byte(err.Error())}
				}
				results <- r
			}()
		}
		for deadline := time.Now().Add(10 * time.Second); origin.requests.Load() == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				close(release)
				t.Fatal("A never asked the origin")
			}
		}
		// Another item waits for the one fetch slot (max_concurrent_remote_fetches: 1).
		waiting := make(chan *testharness.Response, 1)
		go func() {
			r, err := testharness.Request(http.DefaultClient, a.URL, "GET", clientMedia+"/download/"+origin.name+"/Old", alice.Token, nil)
			if err != nil {
				r = &testharness.Response{Raw: []byte(err.Error())}
			}
			waiting <- r
		}()
		time.Sleep(300 * time.Millisecond) // the other requests reach A meanwhile
		if got := origin.paths(); len(got) != 1 {
			t.Errorf("while one fetch runs with one slot, the origin was asked %v", got)
		}
		close(release)
		for range 5 {
			if r := <-results; r.Status != 200 || !bytes.Equal(r.Raw, picture) {
				t.Errorf("concurrent download: %d (%d bytes)", r.Status, len(r.Raw))
			}
		}
		if r := <-waiting; r.Status != 200 || string(r.Raw) != "from an older server" {
			t.Errorf("the download that waited for a slot: %s", r)
		}
		if n := len(slices.DeleteFunc(origin.paths(), func(p string) bool { return !strings.HasSuffix(p, "/Slow") })); n != 1 {
			t.Errorf("five concurrent downloads made %d requests to the origin, want 1", n)
		}

		r := get("Old")
		mediaExpect(t, "download from an origin without the federation endpoint", r, 200, "")
		if string(r.Raw) != "from an older server" || r.Header.Get("Content-Type") != "text/plain" ||
			!strings.Contains(r.Header.Get("Content-Disposition"), "old.txt") {
			t.Errorf("legacy fallback served %q as %q, %q", r.Raw, r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"))
		}

		r = get("Located")
		mediaExpect(t, "download through a Location part", r, 200, "")
		if !bytes.Equal(r.Raw, picture) || !strings.Contains(r.Header.Get("Content-Disposition"), "located.png") {
			t.Errorf("the Location's content was not served: %q, %d bytes", r.Header.Get("Content-Disposition"), len(r.Raw))
		}
		mediaExpect(t, "a file:// Location", get("FileLocation"), 502, "M_UNKNOWN")
		mediaExpect(t, "an answer cut off midway", get("CutOff"), 502, "M_UNKNOWN")
		mediaExpect(t, "an origin that stalls past media.remote_fetch_timeout", get("Stalled"), 502, "M_UNKNOWN")
		mediaExpect(t, "an origin that has nothing", get("Missing"), 404, "M_NOT_FOUND")
		if n := countRows(t, a, "SELECT COUNT(*) FROM remote_media"); n != 3 {
			t.Errorf("%d remote_media rows, want 3 (Slow, Old, Located)", n)
		}
		if _, temps := mediaFiles(t, a); len(temps) != 0 {
			t.Errorf("temporary files left behind: %v", temps)
		}

		r = mediaDo(t, a, "GET", clientMedia+"/thumbnail/"+origin.name+"/NoThumbs?width=32&height=32&method=crop", alice.Token, nil)
		mediaExpect(t, "thumbnail of an origin without thumbnails", r, 200, "")
		if w, h, _ := imageSize(t, r.Raw); w != 32 || h != 32 {
			t.Errorf("thumbnail made by A is %dx%d, want 32x32", w, h)
		}
		if n := countRows(t, a, "SELECT COUNT(*) FROM remote_media WHERE media_id = 'NoThumbs'"); n != 1 {
			t.Errorf("the original was not kept for the thumbnail")
		}
		for _, p := range origin.paths() {
			if strings.HasPrefix(p, "/_matrix/media/v3/") && !strings.Contains(p, "allow_remote=false") {
				t.Errorf("a legacy request without allow_remote=false: %s", p)
			}
		}
	})
}

// The deprecated unauthenticated endpoints serve remote media under
// media.legacy_unauthenticated and its freeze: frozen, they fetch
// nothing new and serve only what was kept before the freeze.
func TestFederationMediaLegacyEndpoints(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 3, func(i int, c *config.Config) {
		switch i {
		case 1:
			c.Media.FreezeLegacyAfter = "2020-01-01T00:00:00Z"
		case 2:
			c.Media.LegacyUnauthenticated = false
		}
	})
	open, frozen, off := servers[0], servers[1], servers[2]
	bob := open.RegisterUser(t, "bob")
	mxc := uploadMedia(t, open, bob.Token, "text/plain", "", []byte("hello"))
	// Media of the open server, seen from the two others.
	mediaExpect(t, "legacy download, frozen", mediaDo(t, frozen, "GET", "/_matrix/media/v3/download/"+mxc, "", nil), 404, "M_NOT_FOUND")
	mediaExpect(t, "legacy download, switched off", mediaDo(t, off, "GET", "/_matrix/media/v3/download/"+mxc, "", nil), 404, "M_NOT_FOUND")
	for _, hs := range []*testharness.Homeserver{frozen, off} {
		if n := countRows(t, hs, "SELECT COUNT(*) FROM remote_media"); n != 0 {
			t.Errorf("%s fetched remote media for a legacy request it does not serve", hs.Config.ServerName)
		}
	}
	carol := frozen.RegisterUser(t, "carol")
	mediaExpect(t, "authenticated download, frozen", mediaDo(t, frozen, "GET", clientMedia+"/download/"+mxc, carol.Token, nil), 200, "")
	mediaExpect(t, "legacy download fetched after the freeze", mediaDo(t, frozen, "GET", "/_matrix/media/v3/download/"+mxc, "", nil), 404, "M_NOT_FOUND")

	// Open: allow_remote=false fetches nothing; otherwise fetched and served.
	dave := off.RegisterUser(t, "dave")
	other := uploadMedia(t, off, dave.Token, "text/plain", "", []byte("from off"))
	mediaExpect(t, "allow_remote=false", mediaDo(t, open, "GET", "/_matrix/media/v3/download/"+other+"?allow_remote=false", "", nil), 404, "M_NOT_FOUND")
	r := mediaDo(t, open, "GET", "/_matrix/media/v3/download/"+other, "", nil)
	mediaExpect(t, "legacy download, open", r, 200, "")
	if string(r.Raw) != "from off" {
		t.Errorf("legacy download served %q", r.Raw)
	}
	r = mediaDo(t, open, "GET", "/_matrix/media/v3/thumbnail/"+other+"?width=32&height=32&allow_remote=false", "", nil)
	mediaExpect(t, "legacy thumbnail of cached text", r, 400, "M_UNKNOWN")
}

type mediaPart struct {
	header textproto.MIMEHeader
	body   []byte
}

// multipartParts reads a federation media answer: exactly two parts.
func multipartParts(t *testing.T, r *testharness.Response) []mediaPart {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q, want multipart/mixed", r.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(r.Raw), params["boundary"])
	var parts []mediaPart
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the multipart answer: %v", err)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("reading a part: %v", err)
		}
		parts = append(parts, mediaPart{header: p.Header, body: body})
	}
	if len(parts) != 2 {
		t.Fatalf("%d parts, want 2", len(parts))
	}
	return parts
}

// The remote fetch settings come from YAML or FOYER_* variables and are
// checked; with federation off, remote media is refused as Synapse does.
func TestFederationMediaSettings(t *testing.T) {
	def := config.Default()
	if def.Media.RemoteFetchTimeout != 60*time.Second || def.Media.MaxConcurrentRemoteFetches != 8 {
		t.Fatalf("defaults: %+v", def.Media)
	}
	flags := flag.NewFlagSet("test", flag.ContinueOnError)
	f := config.RegisterFlags(flags)
	if err := flags.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.Resolve(flags, []string{"FOYER_MEDIA_REMOTE_FETCH_TIMEOUT=5s", "FOYER_MEDIA_MAX_CONCURRENT_REMOTE_FETCHES=2"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Media.RemoteFetchTimeout != 5*time.Second || cfg.Media.MaxConcurrentRemoteFetches != 2 {
		t.Fatalf("from the environment: %+v", cfg.Media)
	}
	for _, bad := range []func(*config.Config){
		func(c *config.Config) { c.Media.RemoteFetchTimeout = 0 },
		func(c *config.Config) { c.Media.RemoteFetchTimeout = time.Hour },
		func(c *config.Config) { c.Media.MaxConcurrentRemoteFetches = 0 },
	} {
		c := config.Default()
		bad(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "media.") {
			t.Errorf("%+v: want a media.* error, got %v", c.Media, err)
		}
	}

	servers := testharness.StartFederation(t, "sqlite", 2, func(i int, c *config.Config) {
		c.Federation.Enabled = i == 1
	})
	a, b := servers[0], servers[1]
	bob, alice := b.RegisterUser(t, "bob"), a.RegisterUser(t, "alice")
	mxc := uploadMedia(t, b, bob.Token, "text/plain", "", []byte("hi"))
	mediaExpect(t, "remote media with federation off", mediaDo(t, a, "GET", clientMedia+"/download/"+mxc, alice.Token, nil), 403, "M_FORBIDDEN")
	mediaExpect(t, "a server name that is not one", mediaDo(t, a, "GET", clientMedia+"/download/bad%20name/abc", alice.Token, nil), 404, "M_NOT_FOUND")
}
