package integration

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/testharness"
)

// linkSite is a web server for previews to fetch: it counts the requests
// each path gets.
type linkSite struct {
	*httptest.Server
	mu    sync.Mutex
	asked map[string]int
	png   []byte
}

func (s *linkSite) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[path]
}

const ogPage = `<!DOCTYPE html>
<html><head>
<meta charset="utf-8">
<title>Not this title</title>
<meta property="og:title" content="A &amp; B: the story">
<meta property="og:description" content="  What happened
  next.  ">
<meta property="og:site_name" content="Example">
<meta property="og:image" content="/picture.png">
<meta property="og:image:width" content="9999">
<meta property="og:image:alt" content="A picture">
<meta name="twitter:title" content="Twitter's title">
<meta name="twitter:card" content="summary">
<script>var og = "<meta property='og:title' content='not me'>";</script>
</head><body><h1>Heading</h1><img src="/other.png" width="500" height="500"></body></html>`

const plainPage = `<html><head><title>
  Plain page </title>
<meta name="description" content="Only a description.">
</head><body><p>text</p></body></html>`

// latin1Page declares its charset in a meta tag only.
var latin1Page = []byte("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"><title>Caf\xe9</title></head></html>")

func startLinkSite(t *testing.T) *linkSite {
	s := &linkSite{asked: map[string]int{}, png: pngOf(t, 40, 30)}
	stall := make(chan struct{})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.asked[r.URL.Path]++
		s.mu.Unlock()
		switch r.URL.Path {
		case "/page":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, ogPage)
		case "/plain":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, plainPage)
		case "/latin1":
			w.Header().Set("Content-Type", "text/html")
			w.Write(latin1Page)
		case "/redirect":
			http.Redirect(w, r, "/plain", http.StatusFound)
		case "/picture.png", "/photo":
			w.Header().Set("Content-Type", "image/png")
			w.Write(s.png)
		case "/missing-image":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<meta property="og:title" content="No picture"><meta property="og:image" content="/nowhere.png"><meta property="og:image:width" content="10"><meta property="og:image:alt" content="gone">`)
		case "/paper.pdf":
			w.Header().Set("Content-Type", "application/pdf")
			w.Write([]byte("%PDF-1.4 not really"))
		case "/big":
			w.Header().Set("Content-Type", "text/html")
			w.Write(bytes.Repeat([]byte("<p>filler</p>"), 20000)) // announced: 260,000 bytes
		case "/big-chunked":
			w.Header().Set("Content-Type", "text/html")
			for range 200 {
				w.Write(bytes.Repeat([]byte("<p>filler</p>"), 100))
				w.(http.Flusher).Flush()
			}
		case "/unhurried":
			time.Sleep(300 * time.Millisecond)
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, plainPage)
		case "/slow":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html><head><title>slow"))
			w.(http.Flusher).Flush()
			select {
			case <-stall:
			case <-time.After(30 * time.Second):
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(stall) }) // runs before Close, which waits for handlers
	return s
}

// previewConfig lets previews reach the loopback test site, with small
// limits to test.
func previewConfig(t *testing.T, backend string) config.Config {
	cfg := testharness.Config(t, backend)
	cfg.Outbound.AllowPrivateAddresses = true
	cfg.Media.URLPreviewMaxPageBytes = 64 << 10
	cfg.Media.URLPreviewTimeout = time.Second
	return cfg
}

func previewPath(prefix, target string) string {
	return prefix + "/preview_url?url=" + url.QueryEscape(target)
}

const (
	previewV1 = "/_matrix/client/v1/media"
	previewV3 = "/_matrix/media/v3"
	previewR0 = "/_matrix/media/r0"
)

// The preview of a page with Open Graph tags: its properties, its image
// stored here as mxc:// media that downloads, and the answer cached in
// the database, so neither a second request nor one after a restart
// asks the site again.
func TestURLPreviewOpenGraphAndCache(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		site := startLinkSite(t)
		hs := testharness.Start(t, previewConfig(t, backend))
		alice := hs.RegisterUser(t, "alice")
		page := site.URL + "/page"

		r := hs.Do(t, "GET", previewPath(previewV1, page)+"&ts=1510610716656", alice.Token, nil)
		expect(t, r, 200, "")
		want := map[string]any{
			"og:title":          "A & B: the story",
			"og:description":    "What happened next.",
			"og:site_name":      "Example",
			"og:image:alt":      "A picture",
			"og:image:type":     "image/png",
			"og:image:width":    float64(40),
			"og:image:height":   float64(30),
			"matrix:image:size": float64(len(site.png)),
		}
		for k, v := range want {
			if r.JSON[k] != v {
				t.Errorf("%s = %#v, want %#v (%s)", k, r.JSON[k], v, r)
			}
		}
		if len(r.JSON) != len(want)+1 {
			t.Errorf("unexpected properties: %s", r)
		}
		mxc := r.Str("og:image")
		rest, ok := strings.CutPrefix(mxc, "mxc://"+hs.Config.ServerName+"/")
		if !ok {
			t.Fatalf("og:image %q is not local mxc media", mxc)
		}
		dl := mediaDo(t, hs, "GET", "/_matrix/client/v1/media/download/"+hs.Config.ServerName+"/"+rest, alice.Token, nil)
		mediaExpect(t, "download of the preview image", dl, 200, "")
		if !bytes.Equal(dl.Raw, site.png) || dl.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("the preview image downloads as %d bytes of %s", len(dl.Raw), dl.Header.Get("Content-Type"))
		}
		if site.count("/page") != 1 || site.count("/picture.png") != 1 {
			t.Fatalf("site asked %v", site.asked)
		}

		// Cached: for another user, with a fragment, on the legacy paths.
		bob := hs.RegisterUser(t, "bob")
		for _, path := range []string{
			previewPath(previewV1, page),
			previewPath(previewV1, page+"#section"),
			previewPath(previewV3, page),
			previewPath(previewR0, page),
		} {
			again := hs.Do(t, "GET", path, bob.Token, nil)
			expect(t, again, 200, "")
			if !bytes.Equal(again.Raw, r.Raw) {
				t.Fatalf("%s: cached answer %s differs from %s", path, again.Raw, r.Raw)
			}
		}
		if site.count("/page") != 1 {
			t.Fatalf("the cached page was fetched again: %v", site.asked)
		}

		hs.Stop(t)
		hs.Resume(t)
		again := hs.Do(t, "GET", previewPath(previewV1, page), alice.Token, nil)
		expect(t, again, 200, "")
		if !bytes.Equal(again.Raw, r.Raw) || site.count("/page") != 1 {
			t.Fatalf("after a restart: %s, site asked %v", again, site.asked)
		}
		if n := countRows(t, hs, `SELECT COUNT(*) FROM url_previews`); n != 1 {
			t.Fatalf("%d cached previews, want 1", n)
		}
	})
}

// Pages without Open Graph, images, other content, and pages whose image
// cannot be had.
func TestURLPreviewFallbacks(t *testing.T) {
	site := startLinkSite(t)
	hs := testharness.Start(t, previewConfig(t, "sqlite"))
	alice := hs.RegisterUser(t, "alice")
	get := func(path string) *testharness.Response {
		t.Helper()
		r := hs.Do(t, "GET", previewPath(previewV1, site.URL+path), alice.Token, nil)
		expect(t, r, 200, "")
		return r
	}

	plain := get("/plain")
	if plain.Str("og:title") != "Plain page" || plain.Str("og:description") != "Only a description." || len(plain.JSON) != 2 {
		t.Fatalf("title and description fallback: %s", plain)
	}
	if r := get("/redirect"); r.Str("og:title") != "Plain page" {
		t.Fatalf("after a redirect: %s", r)
	}
	if r := get("/latin1"); r.Str("og:title") != "Café" {
		t.Fatalf("an ISO-8859-1 page: %s", r)
	}

	photo := get("/photo")
	if !strings.HasPrefix(photo.Str("og:image"), "mxc://") || photo.Str("og:image:type") != "image/png" ||
		photo.JSON["og:image:width"] != float64(40) || photo.JSON["matrix:image:size"] != float64(len(site.png)) {
		t.Fatalf("an image URL previews as the image: %s", photo)
	}

	if r := get("/paper.pdf"); len(r.JSON) != 0 {
		t.Fatalf("a PDF previews as nothing: %s", r)
	}

	noImage := get("/missing-image")
	if noImage.Str("og:title") != "No picture" || len(noImage.JSON) != 1 {
		t.Fatalf("a page whose image is missing previews without it: %s", noImage)
	}
}

// Requests for a link not yet cached, made at once, share one fetch.
func TestURLPreviewConcurrentRequestsShareOneFetch(t *testing.T) {
	site := startLinkSite(t)
	hs := testharness.Start(t, previewConfig(t, "sqlite"))
	alice := hs.RegisterUser(t, "alice")
	var wg sync.WaitGroup
	answers := make([]*testharness.Response, 5)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], _ = hs.DoErr("GET", previewPath(previewV1, site.URL+"/unhurried"), alice.Token, nil)
		}()
	}
	wg.Wait()
	for _, r := range answers {
		if r == nil || r.Status != 200 || r.Str("og:title") != "Plain page" {
			t.Fatalf("answer %v", r)
		}
	}
	if n := site.count("/unhurried"); n != 1 {
		t.Fatalf("the page was fetched %d times, want once", n)
	}
}

// Bad parameters, error pages, the size and time limits: Matrix errors,
// never a 500.
func TestURLPreviewErrors(t *testing.T) {
	site := startLinkSite(t)
	cfg := previewConfig(t, "sqlite")
	cfg.Media.URLPreviewMaxImageBytes = 100
	hs := testharness.Start(t, cfg)
	alice := hs.RegisterUser(t, "alice")

	expect(t, hs.Do(t, "GET", previewV1+"/preview_url", alice.Token, nil), 400, "M_MISSING_PARAM")
	expect(t, hs.Do(t, "GET", previewPath(previewV1, site.URL+"/page")+"&ts=yesterday", alice.Token, nil), 400, "M_INVALID_PARAM")
	for _, bad := range []string{"ftp://example.org/file", "not a url", "/relative/path", "http://", "http://user:pw@example.org/", "javascript:alert(1)",
		"http://example.org/" + strings.Repeat("a", 9000)} {
		expect(t, hs.Do(t, "GET", previewPath(previewV1, bad), alice.Token, nil), 400, "M_INVALID_PARAM")
	}
	expect(t, hs.Do(t, "GET", previewPath(previewV1, site.URL+"/page"), "", nil), 401, "M_MISSING_TOKEN")

	expect(t, hs.Do(t, "GET", previewPath(previewV1, site.URL+"/nothing-here"), alice.Token, nil), 502, "M_UNKNOWN")
	expect(t, hs.Do(t, "GET", previewPath(previewV1, site.URL+"/big"), alice.Token, nil), 502, "M_TOO_LARGE")
	expect(t, hs.Do(t, "GET", previewPath(previewV1, site.URL+"/big-chunked"), alice.Token, nil), 502, "M_TOO_LARGE")

	// An image over media.url_preview_max_image_bytes: as the URL, an
	// error; as a page's image, left out.
	expect(t, hs.Do(t, "GET", previewPath(previewV1, site.URL+"/photo"), alice.Token, nil), 502, "M_TOO_LARGE")
	page := hs.Do(t, "GET", previewPath(previewV1, site.URL+"/page"), alice.Token, nil)
	expect(t, page, 200, "")
	if page.Str("og:title") == "" || page.JSON["og:image"] != nil || page.JSON["matrix:image:size"] != nil {
		t.Fatalf("a page whose image is too large: %s", page)
	}

	began := time.Now()
	expect(t, hs.Do(t, "GET", previewPath(previewV1, site.URL+"/slow"), alice.Token, nil), 502, "M_UNKNOWN")
	if took := time.Since(began); took < time.Second || took > 5*time.Second {
		t.Fatalf("a stalled page answered after %v, want the 1s limit", took)
	}
	// Failures are not cached.
	expect(t, hs.Do(t, "GET", previewPath(previewV1, site.URL+"/nothing-here"), alice.Token, nil), 502, "M_UNKNOWN")
	if n := site.count("/nothing-here"); n != 2 {
		t.Fatalf("an error page was asked %d times, want 2", n)
	}
}

// By default (outbound.allow_private_addresses off) a preview reaches no
// loopback address, written in the URL (403, as the reference server) or
// found through DNS or a redirect (502), and the site is never asked.
func TestURLPreviewRefusesPrivateAddressesByDefault(t *testing.T) {
	site := startLinkSite(t)
	cfg := testharness.Config(t, "sqlite")
	hs := testharness.Start(t, cfg)
	alice := hs.RegisterUser(t, "alice")
	port := site.Listener.Addr().(*net.TCPAddr).Port

	r := hs.Do(t, "GET", previewPath(previewV1, site.URL+"/page"), alice.Token, nil)
	expect(t, r, 403, "M_UNKNOWN")
	expect(t, hs.Do(t, "GET", previewPath(previewV1, fmt.Sprintf("http://[::1]:%d/page", port)), alice.Token, nil), 403, "M_UNKNOWN")
	expect(t, hs.Do(t, "GET", previewPath(previewV1, fmt.Sprintf("http://localhost:%d/page", port)), alice.Token, nil), 502, "M_UNKNOWN")
	if n := site.count("/page"); n != 0 {
		t.Fatalf("the loopback site was asked %d times", n)
	}
}

// Guests may preview on the v1 path (a Foyer extension), each fetch
// counted against rate_limits.guest_url_previews while cached answers
// are free; the legacy path stays closed to them; the extension can be
// switched off, and previews altogether.
func TestURLPreviewGuests(t *testing.T) {
	site := startLinkSite(t)
	cfg := previewConfig(t, "sqlite")
	cfg.RateLimit.GuestURLPreviews = config.Rate{PerSecond: 0.001, Burst: 2}
	hs := testharness.Start(t, cfg)
	guest := hs.RegisterGuest(t)

	expect(t, hs.Do(t, "GET", previewPath(previewV1, site.URL+"/page"), guest.Token, nil), 200, "")
	expect(t, hs.Do(t, "GET", previewPath(previewV1, site.URL+"/plain"), guest.Token, nil), 200, "")
	limited := hs.Do(t, "GET", previewPath(previewV1, site.URL+"/photo"), guest.Token, nil)
	expect(t, limited, 429, "M_LIMIT_EXCEEDED")
	if site.count("/photo") != 0 {
		t.Fatal("a refused guest preview was fetched")
	}
	for range 3 {
		expect(t, hs.Do(t, "GET", previewPath(previewV1, site.URL+"/page"), guest.Token, nil), 200, "")
	}
	expect(t, hs.Do(t, "GET", previewPath(previewV3, site.URL+"/page"), guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
	// A user is not held to the guests' budget.
	alice := hs.RegisterUser(t, "alice")
	expect(t, hs.Do(t, "GET", previewPath(previewV1, site.URL+"/photo"), alice.Token, nil), 200, "")

	off := previewConfig(t, "sqlite")
	off.GuestAccess.DisabledExtensions = []string{"url_previews"}
	hsOff := testharness.Start(t, off)
	expect(t, hsOff.Do(t, "GET", previewPath(previewV1, site.URL+"/page"), hsOff.RegisterGuest(t).Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")

	disabled := previewConfig(t, "sqlite")
	disabled.Media.URLPreviewEnabled = false
	hsDisabled := testharness.Start(t, disabled)
	bob := hsDisabled.RegisterUser(t, "bob")
	for _, prefix := range []string{previewV1, previewV3} {
		expect(t, hsDisabled.Do(t, "GET", previewPath(prefix, site.URL+"/page"), bob.Token, nil), 404, "M_UNRECOGNIZED")
	}
}
