package joinpage

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func checkSecurityHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if got := resp.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
		t.Errorf("Content-Security-Policy = %q", got)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy = %q", got)
	}
}

func TestPageIsTheSameForEveryLinkAndRoom(t *testing.T) {
	h := New(Options{ServerName: "example.org", GuestRegistrationOpen: true})
	var first []byte
	for _, p := range []string{"/_foyer/join/SECRETTOKEN123", "/_foyer/room/%23lobby:example.org", "/_foyer/room/"} {
		resp := get(t, h, p, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		checkSecurityHeaders(t, resp)
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", p, resp.Header.Get("Cache-Control"))
		}
		if bytes.Contains(body, []byte("SECRETTOKEN")) {
			t.Errorf("the link token is in the page")
		}
		if first == nil {
			first = body
		} else if !bytes.Equal(first, body) {
			t.Errorf("%s: the page differs", p)
		}
	}
	for _, want := range []string{`content="example.org"`, `name="foyer-guest-registration" content="open"`} {
		if !bytes.Contains(first, []byte(want)) {
			t.Errorf("page lacks %s", want)
		}
	}
	gz := get(t, h, "/_foyer/room/x", map[string]string{"Accept-Encoding": "gzip"})
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatalf("the page is not gzipped: %v", err)
	}
	if unzipped, _ := io.ReadAll(zr); !bytes.Equal(unzipped, first) {
		t.Errorf("the gzipped page differs")
	}
	closed := get(t, New(Options{ServerName: "x"}), "/_foyer/room/x", nil)
	body, _ := io.ReadAll(closed.Body)
	if !bytes.Contains(body, []byte(`name="foyer-guest-registration" content="closed"`)) {
		t.Errorf("closed registration not told to the page")
	}
}

// The page must work under its own CSP: no inline script or style, no
// event-handler attributes, nothing from another origin, and no text ever
// put into the page as HTML.
func TestAssetsKeepToTheCSP(t *testing.T) {
	html, _ := assets.ReadFile("assets/index.html")
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // inline script
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`(?:src|href)="(?:https?:)?//`),
	} {
		if loc := bad.FindIndex(html); loc != nil {
			t.Errorf("index.html breaks the CSP: %q", html[loc[0]:loc[1]])
		}
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAll(html, -1) {
		if !bytes.Contains(tag, []byte(` src="`)) {
			t.Errorf("index.html has a script without src: %s", tag)
		}
	}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		js, _ := assets.ReadFile(p)
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute(\"on", "localStorage.setItem(\"foyer.token"} {
			if bytes.Contains(js, []byte(bad)) {
				t.Errorf("%s uses %s", p, bad)
			}
		}
		// The access token goes in the Authorization header, never a URL.
		if regexp.MustCompile(`access_token=|[?&]access_token`).Match(js) {
			t.Errorf("%s puts an access token in a URL", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStaticFiles(t *testing.T) {
	h := New(Options{ServerName: "x"})
	page, _ := io.ReadAll(get(t, h, "/_foyer/room/x", nil).Body)
	m := regexp.MustCompile(`src="(/_foyer/static/app\.js\?v=[0-9a-f]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no versioned script in the page:\n%s", page)
	}
	versioned := string(m[1])

	resp := get(t, h, versioned, map[string]string{"Accept-Encoding": "gzip, br"})
	checkSecurityHeaders(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("app.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("app.js headers: %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(zr)
	want, _ := assets.ReadFile("assets/app.js")
	if !bytes.Equal(js, want) {
		t.Errorf("gzipped app.js differs from the file")
	}

	plain := get(t, h, "/_foyer/static/app.js", nil)
	if plain.Header.Get("Content-Encoding") != "" || plain.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("unversioned app.js without gzip: %v", plain.Header)
	}
	if r := get(t, h, "/_foyer/static/app.js", map[string]string{"If-None-Match": plain.Header.Get("ETag")}); r.StatusCode != 304 {
		t.Errorf("If-None-Match: %d", r.StatusCode)
	}
	for _, name := range []string{"app.css", "icon.svg"} {
		if r := get(t, h, "/_foyer/static/"+name, nil); r.StatusCode != 200 {
			t.Errorf("%s: %d", name, r.StatusCode)
		}
	}
	for _, name := range []string{"index.html", "nope.js", "../joinpage.go"} {
		if r := get(t, h, "/_foyer/static/"+name, nil); r.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", name, r.StatusCode)
		}
	}
}
