package integration

import (
	"net/http"
	"strings"
	"testing"

	"foyer/internal/config"
	"foyer/internal/testharness"
)

// registerGuestVia registers a guest through a "proxy" that sends
// X-Forwarded-For: forwardedFor, and returns the status.
func registerGuestVia(t *testing.T, hs *testharness.Homeserver, forwardedFor string) int {
	t.Helper()
	req, err := http.NewRequest("POST", hs.URL+"/_matrix/client/v3/register?kind=guest", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", forwardedFor)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// onePerClient is a guest-registration limit of one per client address.
func onePerClient(t *testing.T, trusted ...string) config.Config {
	cfg := testharness.Config(t, "sqlite")
	cfg.RateLimit.GuestRegistration = config.Rate{PerSecond: 0.001, Burst: 1}
	cfg.HTTP.TrustedProxies = trusted
	return cfg
}

// Rate limits count the client a trusted proxy names in X-Forwarded-For,
// and only a trusted proxy is believed.
func TestTrustedProxyClientAddress(t *testing.T) {
	t.Run("untrusted peer: X-Forwarded-For ignored", func(t *testing.T) {
		logs := &syncBuffer{}
		hs := testharness.StartLogging(t, onePerClient(t), logs)
		if s := registerGuestVia(t, hs, "198.51.100.1"); s != 200 {
			t.Fatalf("first guest: %d", s)
		}
		if s := registerGuestVia(t, hs, "198.51.100.2"); s != 429 {
			t.Fatalf("a forged X-Forwarded-For from an untrusted peer got its own bucket: %d, want 429", s)
		}
		// With no proxy named, the operator is told once how to name one.
		if n := strings.Count(logs.String(), "http.trusted_proxies is empty"); n != 1 {
			t.Fatalf("%d warnings about an unnamed proxy, want 1:\n%s", n, logs)
		}
	})
	t.Run("trusted proxy: each forwarded client its own bucket", func(t *testing.T) {
		logs := &syncBuffer{}
		hs := testharness.StartLogging(t, onePerClient(t, "127.0.0.1/32", "::1"), logs)
		for _, step := range []struct {
			xff  string
			want int
		}{
			{"198.51.100.1", 200},
			{"198.51.100.2", 200},
			{"198.51.100.1", 429},
			// The right-most untrusted entry counts: prepending a made-up
			// address does not escape the limit.
			{"203.0.113.9, 198.51.100.2", 429},
			// Entries the trusted proxy itself appended are skipped.
			{"198.51.100.3, 127.0.0.1", 200},
		} {
			if s := registerGuestVia(t, hs, step.xff); s != step.want {
				t.Fatalf("X-Forwarded-For %q: %d, want %d", step.xff, s, step.want)
			}
		}
		// The request log names the forwarded client too.
		if !strings.Contains(logs.String(), "client=198.51.100.3") {
			t.Fatalf("the request log does not name the forwarded client:\n%s", logs)
		}
	})
}

// An IPv6 client is limited by its /64: cycling through the addresses of
// one subscriber's block does not earn more requests.
func TestRateLimitIPv6Per64(t *testing.T) {
	hs := testharness.Start(t, onePerClient(t, "127.0.0.1", "::1"))
	for _, step := range []struct {
		client string
		want   int
	}{
		{"2001:db8:1:2::1", 200},
		{"2001:db8:1:2::2", 429},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", 429},
		{"2001:db8:1:3::1", 200},
	} {
		if s := registerGuestVia(t, hs, step.client); s != step.want {
			t.Fatalf("client %s: %d, want %d", step.client, s, step.want)
		}
	}
}
