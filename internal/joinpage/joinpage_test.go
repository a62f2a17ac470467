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

// With a captcha provider, the page's CSP admits exactly the widget's
// origins (its script, frame, requests and styles) and nothing else new;
// the page learns the checks, the provider, its script and the worker.
func TestCaptchaWidgetPolicy(t *testing.T) {
	h := New(Options{ServerName: "x", GuestRegistrationOpen: true,
		GuestChecks:     []string{GuestCheckCaptcha, GuestCheckProofOfWork},
		CaptchaProvider: "turnstile", CaptchaScript: "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit",
		CaptchaOrigins: []string{"https://challenges.cloudflare.com"}})
	resp := get(t, h, "/_foyer/join/abc", nil)
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{
		"script-src 'self' https://challenges.cloudflare.com;",
		"frame-src https://challenges.cloudflare.com;",
		"connect-src 'self' https://challenges.cloudflare.com;",
		"worker-src 'self';",
		"default-src 'none';",
		"frame-ancestors 'none'",
	} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Count(csp, "https://") != 5 {
		t.Errorf("CSP admits more than the widget: %q", csp)
	}
	// Static files carry the same policy.
	if got := get(t, h, StaticPrefix+"app.js", nil).Header.Get("Content-Security-Policy"); got != csp {
		t.Errorf("static CSP %q", got)
	}
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`<meta name="foyer-guest-checks" content="captcha proof_of_work">`,
		`<meta name="foyer-captcha-provider" content="turnstile">`,
		`<meta name="foyer-captcha-script" content="https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit">`,
		`<meta name="foyer-pow-worker" content="/_foyer/static/pow-worker.js?v=`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("page lacks %s", want)
		}
	}
	worker := get(t, h, StaticPrefix+"pow-worker.js", nil)
	if worker.StatusCode != 200 || worker.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("worker: %d %s", worker.StatusCode, worker.Header.Get("Content-Type"))
	}
	// Without a provider the policy is the plain one.
	if got := get(t, New(Options{ServerName: "x", GuestChecks: []string{GuestCheckProofOfWork}}), "/_foyer/join/abc", nil).Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
		t.Errorf("CSP without a captcha: %q", got)
	}
}
