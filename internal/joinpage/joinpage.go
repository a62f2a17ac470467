// Package joinpage is Foyer's own small web client for visitors: the page
// behind a guest link (GET /_foyer/join/{token}) and a room address
// (GET /_foyer/room/{roomIdOrAlias}). It is plain HTML, CSS and
// JavaScript embedded in the binary: nothing is built at run time and
// nothing is loaded from anywhere but this server. The page reads the link
// token or the room from its own location and talks to the client API of
// the same origin; this package only serves the files, with a strict
// Content-Security-Policy on every answer.
package joinpage

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed assets
var assets embed.FS

// StaticPrefix is where the page's scripts, styles and icon are served.
const StaticPrefix = "/_foyer/static/"

// ContentSecurityPolicy allows scripts (and the proof-of-work worker),
// styles and connections to this origin only, no inline script or style,
// no plugins, no framing, no <base> and no form submissions (the page's
// forms are handled by script). A captcha widget adds its provider's
// origins (see policyFor).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// policyFor is ContentSecurityPolicy with the captcha widget's origins
// admitted where the widget needs them: its script, its frame, the
// requests and styles of its loader.
func policyFor(captchaOrigins []string) string {
	if len(captchaOrigins) == 0 {
		return ContentSecurityPolicy
	}
	o := " " + strings.Join(captchaOrigins, " ")
	return "default-src 'none'; script-src 'self'" + o + "; worker-src 'self'; style-src 'self'" + o +
		"; connect-src 'self'" + o + "; frame-src" + o + "; img-src 'self' data:" + o +
		"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// Options are what the page needs to know about the server that it cannot
// ask the client API for.
type Options struct {
	// ServerName is the homeserver's name, for matrix.to links (via=).
	ServerName string
	// GuestRegistrationOpen: anyone may register a guest
	// (guests and guest_access.open_registration). Without it the page
	// shows previews only to visitors who already have an account here,
	// and offers no Join button; guest links still work.
	GuestRegistrationOpen bool
	// GuestChecks are the human checks new guests must pass
	// (GuestCheckCaptcha, GuestCheckProofOfWork); the page does them.
	GuestChecks []string
	// CaptchaProvider (recaptcha, hcaptcha, turnstile), CaptchaScript and
	// CaptchaOrigins describe the captcha widget, when a provider is set:
	// the page loads the script and its CSP admits the origins.
	CaptchaProvider string
	CaptchaScript   string
	CaptchaOrigins  []string
}

// The human checks Options.GuestChecks may name.
const (
	GuestCheckCaptcha     = "captcha"
	GuestCheckProofOfWork = "proof_of_work"
)

// asset is one static file, ready to serve.
type asset struct {
	contentType string
	body, gz    []byte
	etag        string
}

// Handler serves the page and its static files.
type Handler struct {
	page   *asset
	static map[string]*asset
	// csp is the Content-Security-Policy of every answer.
	csp string
}

// New reads the embedded files and renders the page for opts. It panics
// if the embedded files are broken, which a test catches.
func New(opts Options) *Handler {
	h := &Handler{static: map[string]*asset{}, csp: ContentSecurityPolicy}
	if opts.CaptchaProvider != "" {
		h.csp = policyFor(opts.CaptchaOrigins)
	}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := strings.TrimPrefix(p, "assets/")
		if name == "index.html" {
			return nil
		}
		body, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		h.static[name] = newAsset(name, body)
		return nil
	})
	if err != nil {
		panic("joinpage: reading embedded assets: " + err.Error())
	}
	tmpl := template.Must(template.ParseFS(assets, "assets/index.html"))
	// Asset URLs carry their content hash, so browsers may cache them for
	// good and still never run an old script against a new page.
	urls := map[string]string{}
	for name, a := range h.static {
		urls[name] = StaticPrefix + name + "?v=" + a.etag[1:13]
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, map[string]any{
		"ServerName":            opts.ServerName,
		"GuestRegistrationOpen": opts.GuestRegistrationOpen,
		"GuestChecks":           strings.Join(opts.GuestChecks, " "),
		"CaptchaProvider":       opts.CaptchaProvider,
		"CaptchaScript":         opts.CaptchaScript,
		"Asset":                 urls,
	}); err != nil {
		panic("joinpage: rendering index.html: " + err.Error())
	}
	h.page = newAsset("index.html", buf.Bytes())
	return h
}

func newAsset(name string, body []byte) *asset {
	sum := sha256.Sum256(body)
	a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	a.contentType = mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js":
		a.contentType = "text/javascript; charset=utf-8"
	case ".css":
		a.contentType = "text/css; charset=utf-8"
	case ".svg":
		a.contentType = "image/svg+xml"
	}
	if a.contentType == "" {
		a.contentType = "application/octet-stream"
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	_, _ = zw.Write(body)
	_ = zw.Close()
	if gz.Len() < len(body) {
		a.gz = gz.Bytes()
	}
	return a
}

// setSecurityHeaders are on every answer of this package.
func (h *Handler) setSecurityHeaders(hdr http.Header) {
	hdr.Set("Content-Security-Policy", h.csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
}

// ServeHTTP serves static files under StaticPrefix and the page on every
// other path; the router decides which paths reach it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if name, ok := strings.CutPrefix(r.URL.Path, StaticPrefix); ok {
		if !h.ServeStatic(w, r, name) {
			h.setSecurityHeaders(w.Header())
			http.Error(w, "not found", http.StatusNotFound)
		}
		return
	}
	h.ServePage(w, r)
}

// ServePage writes the page. It is the same for every link token and
// room: the script reads them from location.pathname, so the token never
// reaches a template, a log line or a cache key here.
func (h *Handler) ServePage(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	h.setSecurityHeaders(hdr)
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	// The page's own URL may hold a link token: keep it out of caches.
	hdr.Set("Cache-Control", "no-store")
	writeBody(w, r, h.page)
}

// ServeStatic writes one embedded file, gzipped when the client takes it.
// It reports whether the file exists; when not, it writes nothing.
func (h *Handler) ServeStatic(w http.ResponseWriter, r *http.Request, name string) bool {
	a, ok := h.static[name]
	if !ok {
		return false
	}
	hdr := w.Header()
	h.setSecurityHeaders(hdr)
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("ETag", a.etag)
	if r.URL.Query().Get("v") == a.etag[1:13] {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	writeBody(w, r, a)
	return true
}

// writeBody writes a's bytes, gzipped when that is smaller and the client
// takes it.
func writeBody(w http.ResponseWriter, r *http.Request, a *asset) {
	hdr := w.Header()
	hdr.Add("Vary", "Accept-Encoding")
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		hdr.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}
