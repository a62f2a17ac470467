package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// logLineWith waits for the server's log line containing every one of
// parts (the line is written as the request finishes, which may be just
// after the client has its answer).
func logLineWith(t *testing.T, logs *syncBuffer, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(logs.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q in:\n%s", parts, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every request is logged at info with its method, path, status,
// duration, user and client address, and no credential: not the access
// token in the query, not a registration token, not a guest link's
// token in the path.
func TestRequestLogHasNoSecrets(t *testing.T) {
	logs := &syncBuffer{}
	hs := testharness.StartLogging(t, testharness.Config(t, "sqlite"), logs)
	alice := hs.RegisterUser(t, "alice")

	if r := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami?access_token="+alice.Token, "", nil); r.Status != 200 {
		t.Fatalf("whoami with a query token: %s", r)
	}
	line := logLineWith(t, logs, "msg=request", "path=/_matrix/client/v3/account/whoami")
	for _, want := range []string{"level=INFO", "method=GET", "status=200", "duration=", "user=" + alice.UserID, "client=127.0.0.1"} {
		if !strings.Contains(line, want) {
			t.Errorf("the request line lacks %q: %s", want, line)
		}
	}

	const regToken, linkToken = "regtokensecret123", "linktokensecret456"
	hs.Do(t, "GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token="+regToken, "", nil)
	hs.Do(t, "POST", "/_foyer/client/v1/guest_links/"+linkToken+"/redeem", "", map[string]any{})
	// A browser's preflight carries the link's token as well.
	hs.Do(t, "OPTIONS", "/_foyer/client/v1/guest_links/"+linkToken+"/redeem", "", nil)
	hs.Do(t, "GET", "/_foyer/join/"+linkToken, "", nil)
	hs.Do(t, "GET", "/_matrix/client/v3/sync?timeout=0&access_token="+alice.Token, "", nil)
	logLineWith(t, logs, "msg=request", "path=/_matrix/client/v1/register/m.login.registration_token/validity")
	logLineWith(t, logs, "msg=request", "method=POST", "path=/_foyer/client/v1/guest_links/REDACTED/redeem")
	logLineWith(t, logs, "msg=request", "method=OPTIONS", "path=/_foyer/client/v1/guest_links/REDACTED/redeem")
	logLineWith(t, logs, "msg=request", "method=GET", "path=/_foyer/join/REDACTED")
	// Harmless query parameters stay, to say what was asked.
	logLineWith(t, logs, "msg=request", "path=/_matrix/client/v3/sync", `query="timeout=0"`, "user="+alice.UserID)

	all := logs.String()
	for _, secret := range []string{alice.Token, regToken, linkToken, alice.Password, "access_token", "Bearer"} {
		if strings.Contains(all, secret) {
			t.Errorf("the log contains %q:\n%s", secret, all)
		}
	}
}

// Every answer names its request in X-Request-Id, and the request's log
// line (and any error logged for it) carries the same ID; a trusted
// proxy's ID is kept, anyone else's replaced.
func TestRequestIDInHeaderAndLog(t *testing.T) {
	for _, tc := range []struct {
		name     string
		proxies  []string
		sent     string
		wantKept bool
	}{
		{"untrusted peer", nil, "from-the-client-1", false},
		{"trusted proxy", []string{"127.0.0.1/32", "::1"}, "from-the-proxy-1", true},
		{"trusted proxy, an ID with a space", []string{"127.0.0.1/32", "::1"}, "bad id", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			hs := testharness.StartLogging(t, onePerClient(t, tc.proxies...), logs)
			req, err := http.NewRequest("GET", hs.URL+"/_matrix/client/versions", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Request-Id", tc.sent)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			id := resp.Header.Get("X-Request-Id")
			if id == "" || (id == tc.sent) != tc.wantKept {
				t.Fatalf("X-Request-Id %q for a sent %q; kept wanted: %v", id, tc.sent, tc.wantKept)
			}
			logLineWith(t, logs, "msg=request", "path=/_matrix/client/versions", "request_id="+id)
			other := hs.Do(t, "GET", "/_matrix/client/versions", "", nil).Header.Get("X-Request-Id")
			if other == "" || other == id {
				t.Fatalf("a second request's ID %q (first %q)", other, id)
			}
			// What a service logs while serving a request names the
			// request, and the caller once known.
			alice := hs.RegisterUser(t, "alice")
			linkRoom := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat",
				"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}}})
			link := hs.Do(t, "POST", "/_foyer/client/v1/rooms/"+testharness.PathEscape(linkRoom)+"/guest_links", alice.Token, map[string]any{})
			if link.Status != 200 {
				t.Fatalf("create link: %s", link)
			}
			logLineWith(t, logs, `msg="guest link created"`, "request_id="+link.Header.Get("X-Request-Id"), "user="+alice.UserID)
		})
	}
}
