package integration

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/testharness"
)

// recordedEDU is one EDU a server sent in a transaction.
type recordedEDU struct {
	Type    string          `json:"edu_type"`
	Content json.RawMessage `json:"content"`
}

// transactionRecorder stands at a test server's name in front of it: it
// keeps the EDUs of the transactions other servers send there and passes
// every request on, so the server behind it answers as usual.
type transactionRecorder struct {
	mu     sync.Mutex
	edus   []recordedEDU
	target *url.URL
	proxy  *httputil.ReverseProxy
}

func (rec *transactionRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/_matrix/federation/v1/send/") {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var txn struct {
			EDUs []recordedEDU `json:"edus"`
		}
		if json.Unmarshal(body, &txn) == nil {
			rec.mu.Lock()
			rec.edus = append(rec.edus, txn.EDUs...)
			rec.mu.Unlock()
		}
	}
	rec.mu.Lock()
	proxy := rec.proxy
	rec.mu.Unlock()
	if proxy == nil {
		http.Error(w, `{"errcode":"M_UNKNOWN","error":"not started"}`, http.StatusServiceUnavailable)
		return
	}
	proxy.ServeHTTP(w, r)
}

// forwardTo sends the recorder's requests on to base (the server's plain
// HTTP listener).
func (rec *transactionRecorder) forwardTo(t *testing.T, base string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	rec.target = u
	rec.proxy = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.Out.Host = pr.In.Host }}
	rec.mu.Unlock()
}

// waitEDU waits until an EDU of typ for which match holds has been
// recorded, and returns its content.
func (rec *transactionRecorder) waitEDU(t *testing.T, typ string, match func(content map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		rec.mu.Lock()
		edus := append([]recordedEDU(nil), rec.edus...)
		rec.mu.Unlock()
		for _, e := range edus {
			var c map[string]any
			if e.Type == typ && json.Unmarshal(e.Content, &c) == nil && match(c) {
				return c
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	t.Fatalf("no matching %s EDU arrived; recorded: %+v", typ, rec.edus)
	return nil
}

// all returns every EDU recorded so far.
func (rec *transactionRecorder) all() []recordedEDU {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recordedEDU(nil), rec.edus...)
}

// startFederationWithRecorder starts two federating servers; the second
// is reached through a transactionRecorder listening at its name.
func startFederationWithRecorder(t *testing.T, backend string, edit func(i int, cfg *config.Config)) ([]*testharness.Homeserver, *transactionRecorder) {
	t.Helper()
	rec := &transactionRecorder{}
	servers := testharness.StartFederation(t, backend, 2, func(i int, cfg *config.Config) {
		if edit != nil {
			edit(i, cfg)
		}
		if i != 1 {
			return
		}
		// The name's port is the recorder's; the server listens behind it.
		namePort := strings.TrimPrefix(cfg.ServerName, "localhost:")
		cfg.TLSListen = "127.0.0.1:" + testharness.FreeLoopbackPort(t)
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:"+namePort, &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: rec}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	})
	rec.forwardTo(t, servers[1].URL)
	return servers, rec
}

// A local user's typing (start, stop, and a timeout running out), public
// read receipt (with its thread) and presence (its changes, and what it
// was when the other server's user joined) leave as EDUs, shaped as the
// spec says, for the server of a member joined to the room; a private
// read receipt never leaves.
func TestFederationOutboundEDUs(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers, rec := startFederationWithRecorder(t, backend, nil)
		a, b := servers[0], servers[1]
		alice := a.RegisterUser(t, "alice")
		room := createRoom(t, a, alice.Token, map[string]any{"preset": "public_chat"})
		bob := "@bob:" + b.Config.ServerName
		presencePath := "/_matrix/client/v3/presence/" + url.PathEscape(alice.UserID) + "/status"
		presenceIs := func(state, msg string) func(map[string]any) bool {
			return func(c map[string]any) bool {
				push, _ := c["push"].([]any)
				for _, p := range push {
					u, _ := p.(map[string]any)
					if _, hasAgo := u["last_active_ago"].(float64); hasAgo && u["user_id"] == alice.UserID &&
						u["presence"] == state && u["status_msg"] == msg {
						return true
					}
				}
				return false
			}
		}
		// Set while no other server shares a room with alice: B hears of
		// it when its user joins, as Synapse does.
		expect(t, a.Do(t, "PUT", presencePath, alice.Token, map[string]any{"presence": "online", "status_msg": "before you came"}), 200, "")
		joinByTxn(t, &remoteServer{name: b.Config.ServerName, key: b.SigningKey(t), hs: a}, "bob-join", room, bob)
		rec.waitEDU(t, "m.presence", presenceIs("online", "before you came"))

		typingPath := roomPath(room, "/typing/"+alice.UserID)
		typingIs := func(want bool) func(map[string]any) bool {
			return func(c map[string]any) bool {
				return c["room_id"] == room && c["user_id"] == alice.UserID && c["typing"] == want
			}
		}
		expect(t, a.Do(t, "PUT", typingPath, alice.Token, map[string]any{"typing": true, "timeout": 30000}), 200, "")
		rec.waitEDU(t, "m.typing", typingIs(true))
		expect(t, a.Do(t, "PUT", typingPath, alice.Token, map[string]any{"typing": false}), 200, "")
		rec.waitEDU(t, "m.typing", typingIs(false))
		stops := func() int {
			n := 0
			for _, e := range rec.all() {
				var c map[string]any
				if e.Type == "m.typing" && json.Unmarshal(e.Content, &c) == nil && typingIs(false)(c) {
					n++
				}
			}
			return n
		}
		// A typing notice whose timeout runs out is stopped over federation
		// too, as Synapse does.
		expect(t, a.Do(t, "PUT", typingPath, alice.Token, map[string]any{"typing": true, "timeout": 200}), 200, "")
		deadline := time.Now().Add(20 * time.Second)
		for stops() < 2 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if stops() < 2 {
			t.Fatalf("no typing stop after the timeout: %+v", rec.all())
		}

		msg := sendMessage(t, a, alice.Token, room, "read me")
		private := sendMessage(t, a, alice.Token, room, "read privately")
		expect(t, a.Do(t, "POST", roomPath(room, "/receipt/m.read/"+msg), alice.Token, map[string]any{"thread_id": "main"}), 200, "")
		expect(t, a.Do(t, "POST", roomPath(room, "/receipt/m.read.private/"+private), alice.Token, map[string]any{}), 200, "")
		receipt := rec.waitEDU(t, "m.receipt", func(c map[string]any) bool {
			byType, _ := c[room].(map[string]any)
			reads, _ := byType["m.read"].(map[string]any)
			return reads[alice.UserID] != nil
		})
		got, _ := json.Marshal(receipt)
		var shaped map[string]map[string]map[string]struct {
			EventIDs []string `json:"event_ids"`
			Data     struct {
				TS       int64  `json:"ts"`
				ThreadID string `json:"thread_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(got, &shaped); err != nil {
			t.Fatalf("receipt EDU %s: %v", got, err)
		}
		r := shaped[room]["m.read"][alice.UserID]
		if len(r.EventIDs) != 1 || r.EventIDs[0] != msg || r.Data.TS <= 0 || r.Data.ThreadID != "main" {
			t.Fatalf("receipt EDU %s, want %s in thread main with a ts", got, msg)
		}

		expect(t, a.Do(t, "PUT", presencePath, alice.Token, map[string]any{"presence": "unavailable", "status_msg": "out to lunch"}), 200, "")
		rec.waitEDU(t, "m.presence", presenceIs("unavailable", "out to lunch"))

		for _, e := range rec.all() {
			if strings.Contains(string(e.Content), "m.read.private") || strings.Contains(string(e.Content), private) {
				t.Errorf("a private read receipt left the server: %s %s", e.Type, e.Content)
			}
			if strings.Contains(string(e.Content), bob) {
				t.Errorf("an EDU about the receiving server's own user was sent back to it: %s %s", e.Type, e.Content)
			}
		}
	})
}
