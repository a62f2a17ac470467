// Package testharness starts real Foyer servers on random loopback ports
// for integration tests, on SQLite or on a throwaway PostgreSQL, and
// speaks HTTP to them as a client does.
package testharness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/server"
	"foyer/internal/testharness/pgtest"
)

// Backends are the databases every storage behaviour is tested on.
var Backends = []string{"sqlite", "postgres"}

// EachBackend runs fn as a subtest per database.
func EachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range Backends {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

// Config returns a configuration for a test server on backend: a random
// loopback port, a temporary data dir, cheap password hashing and no rate
// limits (tests that exercise limits set them).
func Config(t testing.TB, backend string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LogLevel = "warn"
	cfg.Passwords.MemoryKiB = 64
	cfg.Passwords.Iterations = 1
	cfg.RateLimit = config.RateLimit{}
	cfg.ShutdownTimeout = 5 * time.Second
	switch backend {
	case "sqlite":
	case "postgres":
		cfg.DatabaseURL = pgtest.URL(t)
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	return cfg
}

// Homeserver is a running test server.
type Homeserver struct {
	URL    string
	Server *server.Server
	Config config.Config
	client *http.Client
	log    *slog.Logger
}

// Start runs a server with cfg until the test ends.
func Start(t testing.TB, cfg config.Config) *Homeserver {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("FOYER_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return startLogged(t, cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})))
}

// StartLogging is Start with the server's log, from info up, written to
// logs instead of the test log: for tests that read what the server logs.
func StartLogging(t testing.TB, cfg config.Config, logs io.Writer) *Homeserver {
	t.Helper()
	return startLogged(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
}

func startLogged(t testing.TB, cfg config.Config, log *slog.Logger) *Homeserver {
	t.Helper()
	hs := &Homeserver{Config: cfg, client: &http.Client{Timeout: 2 * time.Minute}, log: log}
	hs.run(t)
	t.Cleanup(func() {
		if hs.Server != nil {
			hs.stop(t)
		}
	})
	return hs
}

// run starts the server of hs.Config.
func (h *Homeserver) run(t testing.TB) {
	t.Helper()
	srv, err := server.New(context.Background(), h.Config, h.log)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		_ = srv.Stop(context.Background())
		t.Fatalf("server.Start: %v", err)
	}
	h.Server, h.URL = srv, "http://"+srv.Addrs()[0]
}

func (h *Homeserver) stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Server.Stop(ctx); err != nil {
		t.Errorf("stopping server: %v", err)
	}
	h.Server = nil
}

// Stop stops the server, as its operator would (clean shutdown); Resume
// starts it again on the same data, with the same name and TLS port (the
// plain listener may get another port: URL follows it).
func (h *Homeserver) Stop(t testing.TB) {
	t.Helper()
	h.stop(t)
}

// Resume starts a server stopped with Stop again.
func (h *Homeserver) Resume(t testing.TB) {
	t.Helper()
	h.run(t)
}

// StartBackend is Start(Config(t, backend)).
func StartBackend(t testing.TB, backend string) *Homeserver {
	return Start(t, Config(t, backend))
}

// testWriter sends server logs to the test log, shown on failure.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
	JSON   map[string]any
}

// Errcode is the Matrix errcode of an error response, or "".
func (r *Response) Errcode() string {
	s, _ := r.JSON["errcode"].(string)
	return s
}

// Str returns a string field of the body.
func (r *Response) Str(key string) string {
	s, _ := r.JSON[key].(string)
	return s
}

func (r *Response) String() string {
	return fmt.Sprintf("%d %s", r.Status, r.Raw)
}

// Do sends a request. body may be nil, a []byte (sent as is), a string
// (sent as is) or anything else (sent as JSON). token may be "".
func (h *Homeserver) Do(t testing.TB, method, path, token string, body any) *Response {
	t.Helper()
	resp, err := h.DoErr(method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// DoErr is Do returning transport errors instead of failing the test.
func (h *Homeserver) DoErr(method, path, token string, body any) (*Response, error) {
	return Request(h.client, h.URL, method, path, token, body)
}

// Request sends one request to the server at base and decodes the answer;
// body is as for Homeserver.Do. Tests that run the binary as a process use
// it too.
func Request(client *http.Client, base, method, path, token string, body any) (*Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(raw, &out.JSON)
	}
	return out, nil
}

// Account is a logged-in test user.
type Account struct {
	UserID   string
	DeviceID string
	Token    string
	Password string
}

// RegisterGuest registers a guest and fails the test on error.
func (h *Homeserver) RegisterGuest(t testing.TB) Account {
	t.Helper()
	r := h.Do(t, "POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{})
	if r.Status != 200 {
		t.Fatalf("guest registration: %s", r)
	}
	return Account{UserID: r.Str("user_id"), DeviceID: r.Str("device_id"), Token: r.Str("access_token")}
}

// RegisterUser registers a full user through the dummy UIA stage.
func (h *Homeserver) RegisterUser(t testing.TB, username string) Account {
	t.Helper()
	pw := "password-" + username
	r := h.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{
		"username": username, "password": pw, "auth": map[string]any{"type": "m.login.dummy"},
	})
	if r.Status != 200 {
		t.Fatalf("registering %s: %s", username, r)
	}
	return Account{UserID: r.Str("user_id"), DeviceID: r.Str("device_id"), Token: r.Str("access_token"), Password: pw}
}

// PathEscape escapes one path segment (room IDs, user IDs, aliases).
func PathEscape(s string) string { return url.PathEscape(s) }
