package joinpage_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"foyer/internal/config"
	"foyer/internal/httpapi"
	"foyer/internal/joinpage"
	"foyer/internal/metrics"
)

// The join page's routes answer HTML (not the API's JSON) with the page's
// security headers, for a guest link, a room ID, an escaped alias and the
// bare /_foyer/room/ form; an unknown static file is a Matrix 404.
func TestJoinPageRoutes(t *testing.T) {
	a := httpapi.New(httpapi.Deps{Config: config.Default(), Log: slog.New(slog.DiscardHandler), Metrics: metrics.New()},
		joinpage.Routes(joinpage.Options{ServerName: "localhost"}))
	srv := httptest.NewServer(a)
	defer srv.Close()
	for _, p := range []string{
		"/_foyer/join/abcdefABCDEF0123456789_-",
		"/_foyer/room/!room:localhost",
		"/_foyer/room/%23lobby:localhost",
		"/_foyer/room/",
	} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("%s: %d %s %s", p, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if resp.Header.Get("Content-Security-Policy") != joinpage.ContentSecurityPolicy ||
			resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", p, resp.Header)
		}
		if !strings.Contains(string(body), `<script src="/_foyer/static/app.js?v=`) {
			t.Errorf("%s: not the page: %s", p, body)
		}
	}
	resp, err := http.Get(srv.URL + "/_foyer/static/missing.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(body), "M_NOT_FOUND") {
		t.Errorf("missing static file: %d %s", resp.StatusCode, body)
	}
}
