package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/outbound/outboundtest"
	"foyer/internal/testharness"
)

// pushGateway is a Push Gateway API endpoint served over HTTPS with a
// certificate from the test's CA. It records each notification and
// answers with respond (200 {"rejected": []} when nil).
type pushGateway struct {
	srv *httptest.Server
	URL string

	mu       sync.Mutex
	cond     *sync.Cond
	received []map[string]any
	// seen counts, per pushkey, the notifications next has returned.
	seen    map[string]int
	respond func(pushkey string) (status int, body string)
	// hang, when set, holds every request until the client gives up.
	hang bool
	// requests counts every request, answered or not.
	requests int
}

func startPushGateway(t testing.TB, ca *outboundtest.CA) *pushGateway {
	g := &pushGateway{seen: map[string]int{}}
	g.cond = sync.NewCond(&g.mu)
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(g.serve))
	g.srv.TLS = ca.ServerTLSConfig(t, "127.0.0.1")
	g.srv.StartTLS()
	t.Cleanup(g.srv.Close)
	g.URL = g.srv.URL + "/_matrix/push/v1/notify"
	return g
}

func (g *pushGateway) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	g.requests++
	hang := g.hang
	g.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/_matrix/push/v1/notify" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var req struct {
		Notification map[string]any `json:"notification"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Notification == nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	pushkey := notificationPushkey(req.Notification)
	g.mu.Lock()
	respond := g.respond
	g.mu.Unlock()
	status, answer := http.StatusOK, `{"rejected": []}`
	if respond != nil {
		status, answer = respond(pushkey)
	}
	if status == http.StatusOK {
		g.mu.Lock()
		g.received = append(g.received, req.Notification)
		g.cond.Broadcast()
		g.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

func notificationPushkey(n map[string]any) string {
	devices, _ := n["devices"].([]any)
	if len(devices) == 0 {
		return ""
	}
	d, _ := devices[0].(map[string]any)
	key, _ := d["pushkey"].(string)
	return key
}

func (g *pushGateway) setRespond(f func(pushkey string) (int, string)) {
	g.mu.Lock()
	g.respond = f
	g.mu.Unlock()
}

func (g *pushGateway) setHang(h bool) {
	g.mu.Lock()
	g.hang = h
	g.mu.Unlock()
}

func (g *pushGateway) requestCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests
}

// next returns the next notification accepted for pushkey, failing the
// test when none comes within wait.
func (g *pushGateway) next(t *testing.T, pushkey string, wait time.Duration) map[string]any {
	t.Helper()
	n, ok := g.nextWithin(pushkey, wait)
	if !ok {
		t.Fatalf("no notification for pushkey %q within %s", pushkey, wait)
	}
	return n
}

func (g *pushGateway) nextWithin(pushkey string, wait time.Duration) (map[string]any, bool) {
	deadline := time.Now().Add(wait)
	timer := time.AfterFunc(wait, func() {
		g.mu.Lock()
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	defer timer.Stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		count := 0
		for _, n := range g.received {
			if notificationPushkey(n) != pushkey {
				continue
			}
			if count == g.seen[pushkey] {
				g.seen[pushkey]++
				return n, true
			}
			count++
		}
		if time.Now().After(deadline) {
			return nil, false
		}
		g.cond.Wait()
	}
}

// none checks that nothing new arrives for pushkey within wait.
func (g *pushGateway) none(t *testing.T, pushkey string, wait time.Duration) {
	t.Helper()
	if n, ok := g.nextWithin(pushkey, wait); ok {
		t.Fatalf("unexpected notification for %q: %v", pushkey, n)
	}
}

// pushConfig is a server configuration that may reach the test gateway:
// private addresses allowed (it listens on loopback) and the test CA
// trusted.
func pushConfig(t testing.TB, backend string, ca *outboundtest.CA) config.Config {
	cfg := testharness.Config(t, backend)
	cfg.Outbound.AllowPrivateAddresses = true
	cfg.Outbound.TrustedCAFile = ca.WriteFile(t)
	return cfg
}

func setHTTPPusher(t testing.TB, hs *testharness.Homeserver, acct testharness.Account, pushkey string, data map[string]any) {
	t.Helper()
	r := hs.Do(t, "POST", cs+"/pushers/set", acct.Token, map[string]any{
		"kind": "http", "app_id": "org.example.app", "pushkey": pushkey, "app_display_name": "Example",
		"device_display_name": "Phone", "lang": "en", "data": data,
	})
	if r.Status != 200 {
		t.Fatalf("setting pusher %s: %s", pushkey, r)
	}
}

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

func unreadCount(t *testing.T, n map[string]any) float64 {
	t.Helper()
	c, ok := n["counts"].(map[string]any)
	if !ok {
		t.Fatalf("no counts in %v", n)
	}
	v, _ := c["unread"].(float64)
	return v
}

const pushWait = 10 * time.Second

// A message to a room reaches the HTTP pushers of the other members, in
// the Push Gateway API's shape; event_id_only pushers get only the IDs;
// senders are not pushed their own events, nor users a room they muted;
// GET /notifications lists what notified (only=highlight the highlights);
// reading sends a badge update.
func TestPushGatewayDelivery(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		ca := outboundtest.NewCA(t)
		gw := startPushGateway(t, ca)
		hs := testharness.Start(t, pushConfig(t, backend, ca))
		alice, bob, carol, room := threeInAPublicRoom(t, hs)
		mustPutState(t, hs, alice.Token, room, "m.room.name", map[string]any{"name": "Plans"})
		expect(t, hs.Do(t, "PUT", cs+"/profile/"+testharness.PathEscape(alice.UserID)+"/displayname", alice.Token,
			map[string]any{"displayname": "Alice A"}), 200, "")
		setHTTPPusher(t, hs, bob, "bob-key", map[string]any{"url": gw.URL, "custom": "kept"})
		setHTTPPusher(t, hs, carol, "carol-key", map[string]any{"url": gw.URL, "format": "event_id_only"})

		first := sendMessage(t, hs, alice.Token, room, "hello all")
		n := gw.next(t, "bob-key", pushWait)
		if n["event_id"] != first || n["room_id"] != room || n["type"] != "m.room.message" || n["sender"] != alice.UserID {
			t.Fatalf("bob's notification names the wrong event: %v", n)
		}
		if n["sender_display_name"] != "Alice A" || n["room_name"] != "Plans" || str(n, "content", "body") != "hello all" {
			t.Fatalf("bob's notification lacks names or content: %v", n)
		}
		if n["prio"] != "low" || unreadCount(t, n) != 1 {
			t.Fatalf("prio %v, unread %v; want low (a plain message) and 1", n["prio"], n["counts"])
		}
		dev := n["devices"].([]any)[0].(map[string]any)
		if dev["app_id"] != "org.example.app" || dev["pushkey"] != "bob-key" || dev["pushkey_ts"].(float64) <= 0 {
			t.Fatalf("device: %v", dev)
		}
		if data, _ := dev["data"].(map[string]any); data["custom"] != "kept" || data["url"] != nil {
			t.Fatalf("device data must be the pusher's data without url: %v", dev["data"])
		}
		c := gw.next(t, "carol-key", pushWait)
		if c["event_id"] != first || c["room_id"] != room || unreadCount(t, c) != 1 {
			t.Fatalf("event_id_only notification: %v", c)
		}
		for _, k := range []string{"type", "sender", "content", "sender_display_name", "room_name"} {
			if _, ok := c[k]; ok {
				t.Fatalf("event_id_only notification carries %s: %v", k, c)
			}
		}

		// Bob's own message is pushed to carol, not to him.
		own := sendMessage(t, hs, bob.Token, room, "from bob")
		if c := gw.next(t, "carol-key", pushWait); c["event_id"] != own {
			t.Fatalf("carol got %v, want bob's message", c)
		}

		// Bob mutes the room: alice's next message reaches only carol.
		expect(t, hs.Do(t, "PUT", rulePath("room", room), bob.Token, map[string]any{"actions": []any{}}), 200, "")
		muted := sendMessage(t, hs, alice.Token, room, "while muted")
		if c := gw.next(t, "carol-key", pushWait); c["event_id"] != muted {
			t.Fatalf("carol got %v, want the message sent while bob muted the room", c)
		}
		expect(t, hs.Do(t, "DELETE", rulePath("room", room), bob.Token, nil), 200, "")

		// A mention highlights, and so is pushed with high priority.
		r := hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/mention1"), alice.Token, map[string]any{
			"msgtype": "m.text", "body": "bob: look at this", "m.mentions": map[string]any{"user_ids": []string{bob.UserID}}})
		expect(t, r, 200, "")
		mention := r.Str("event_id")
		n = gw.next(t, "bob-key", pushWait)
		if n["event_id"] != mention {
			t.Fatalf("bob's next notification is %v, want the mention (not his own or the muted message)", n["event_id"])
		}
		if n["prio"] != "high" {
			t.Fatalf("a highlight has prio %v, want high", n["prio"])
		}
		if c := gw.next(t, "carol-key", pushWait); c["event_id"] != mention {
			t.Fatalf("carol got %v, want the mention of bob", c["event_id"])
		}
		if tweaks := n["devices"].([]any)[0].(map[string]any)["tweaks"].(map[string]any); tweaks["highlight"] != true {
			t.Fatalf("tweaks %v, want highlight", tweaks)
		}

		r = hs.Do(t, "GET", cs+"/notifications", bob.Token, nil)
		expect(t, r, 200, "")
		list := r.JSON["notifications"].([]any)
		if len(list) != 2 {
			t.Fatalf("bob has %d notifications, want 2 (hello all, the mention): %s", len(list), r)
		}
		newest := list[0].(map[string]any)
		if newest["event"].(map[string]any)["event_id"] != mention || newest["room_id"] != room || newest["read"] != false ||
			newest["ts"].(float64) <= 0 || len(newest["actions"].([]any)) == 0 {
			t.Fatalf("newest notification: %v", newest)
		}
		if _, ok := newest["event"].(map[string]any)["room_id"]; ok {
			t.Fatalf("a notification's event carries room_id: %v", newest["event"])
		}
		r = hs.Do(t, "GET", cs+"/notifications?only=highlight", bob.Token, nil)
		if list := r.JSON["notifications"].([]any); len(list) != 1 || list[0].(map[string]any)["event"].(map[string]any)["event_id"] != mention {
			t.Fatalf("only=highlight: %s", r)
		}
		r = hs.Do(t, "GET", cs+"/notifications?limit=1", bob.Token, nil)
		next, _ := r.JSON["next_token"].(string)
		if len(r.JSON["notifications"].([]any)) != 1 || next == "" {
			t.Fatalf("limit=1: %s", r)
		}
		r = hs.Do(t, "GET", cs+"/notifications?limit=1&from="+next, bob.Token, nil)
		if list := r.JSON["notifications"].([]any); len(list) != 1 || list[0].(map[string]any)["event"].(map[string]any)["event_id"] != first {
			t.Fatalf("second page: %s", r)
		}
		if _, more := r.JSON["next_token"]; more {
			t.Fatalf("the last page has a next_token: %s", r)
		}
		expect(t, hs.Do(t, "GET", cs+"/notifications?from=nonsense", bob.Token, nil), 400, "M_INVALID_PARAM")

		// Bob reads up to the mention: his badge goes to 0, counts alone.
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", mention), bob.Token, map[string]any{}), 200, "")
		b := gw.next(t, "bob-key", pushWait)
		if unreadCount(t, b) != 0 || b["event_id"] != nil || b["content"] != nil || b["id"] != "" {
			t.Fatalf("badge update: %v", b)
		}
		r = hs.Do(t, "GET", cs+"/notifications", bob.Token, nil)
		if newest := r.JSON["notifications"].([]any)[0].(map[string]any); newest["read"] != true {
			t.Fatalf("the notification read is not marked read: %v", newest)
		}

		// Bob ignores alice: her message reaches carol, not him.
		ignore := func(users map[string]any) {
			expect(t, hs.Do(t, "PUT", cs+"/user/"+testharness.PathEscape(bob.UserID)+"/account_data/m.ignored_user_list",
				bob.Token, map[string]any{"ignored_users": users}), 200, "")
		}
		ignore(map[string]any{alice.UserID: map[string]any{}})
		ignored := sendMessage(t, hs, alice.Token, room, "bob ignores this")
		if c := gw.next(t, "carol-key", pushWait); c["event_id"] != ignored {
			t.Fatalf("carol got %v, want the message bob ignores", c)
		}
		ignore(map[string]any{})
		after := sendMessage(t, hs, alice.Token, room, "bob hears this")
		if n := gw.next(t, "bob-key", pushWait); n["event_id"] != after {
			t.Fatalf("bob's next notification is %v, want the one after he stopped ignoring alice", n["event_id"])
		}
	})
}

// Pusher URLs must be HTTPS with the spec's path, even on loopback; email
// pushers are refused, as this server sends no email.
func TestPushGatewayPusherChecks(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	bob := hs.RegisterUser(t, "bob")
	for _, u := range []string{"http://127.0.0.1:9/_matrix/push/v1/notify", "https://127.0.0.1:9/notify"} {
		r := hs.Do(t, "POST", cs+"/pushers/set", bob.Token, map[string]any{
			"kind": "http", "app_id": "a", "pushkey": "k", "app_display_name": "A", "device_display_name": "D", "lang": "en",
			"data": map[string]any{"url": u}})
		expect(t, r, 400, "M_INVALID_PARAM")
	}
	r := hs.Do(t, "POST", cs+"/pushers/set", bob.Token, map[string]any{
		"kind": "email", "app_id": "m.email", "pushkey": "bob@example.org", "app_display_name": "Email",
		"device_display_name": "bob@example.org", "lang": "en", "data": map[string]any{}})
	expect(t, r, 400, "M_INVALID_PARAM")
	if !strings.Contains(r.Str("error"), "email") {
		t.Fatalf("the refusal does not say why: %s", r)
	}
}

// A gateway answering 500 is retried until it accepts; a pushkey it
// lists as rejected loses its pusher.
func TestPushGatewayRetryAndRejection(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		ca := outboundtest.NewCA(t)
		gw := startPushGateway(t, ca)
		hs := testharness.Start(t, pushConfig(t, backend, ca))
		alice, bob, _, room := threeInAPublicRoom(t, hs)
		setHTTPPusher(t, hs, bob, "bob-key", map[string]any{"url": gw.URL})

		var mu sync.Mutex
		failures := 0
		gw.setRespond(func(string) (int, string) {
			mu.Lock()
			defer mu.Unlock()
			if failures < 2 {
				failures++
				return http.StatusInternalServerError, `{"error": "try later"}`
			}
			return http.StatusOK, `{"rejected": []}`
		})
		ev := sendMessage(t, hs, alice.Token, room, "eventually")
		if n := gw.next(t, "bob-key", pushWait); n["event_id"] != ev {
			t.Fatalf("after the retries: %v", n)
		}
		if gw.requestCount() != 3 {
			t.Fatalf("gateway saw %d requests, want 3 (two 500s, then accepted)", gw.requestCount())
		}
		host := strings.TrimPrefix(gw.srv.URL, "https://")
		waitForMetric(t, hs, `foyer_push_notifications_retried_total{gateway="`+host+`"} 2`)
		waitForMetric(t, hs, `foyer_push_notifications_sent_total{gateway="`+host+`"} 1`)

		gw.setRespond(func(pushkey string) (int, string) {
			return http.StatusOK, `{"rejected": ["` + pushkey + `"]}`
		})
		sendMessage(t, hs, alice.Token, room, "to a stale pushkey")
		gw.next(t, "bob-key", pushWait)
		deadline := time.Now().Add(pushWait)
		for {
			r := hs.Do(t, "GET", cs+"/pushers", bob.Token, nil)
			if len(r.JSON["pushers"].([]any)) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the rejected pusher is still there: %s", r)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// Notifications queued while the gateway fails survive a restart and
// are sent, in order, once it answers.
func TestPushGatewayQueueSurvivesRestart(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		ca := outboundtest.NewCA(t)
		gw := startPushGateway(t, ca)
		hs := testharness.Start(t, pushConfig(t, backend, ca))
		alice, bob, _, room := threeInAPublicRoom(t, hs)
		setHTTPPusher(t, hs, bob, "bob-key", map[string]any{"url": gw.URL})
		gw.setRespond(func(string) (int, string) { return http.StatusServiceUnavailable, `{}` })
		var sent []string
		for _, body := range []string{"one", "two", "three"} {
			sent = append(sent, sendMessage(t, hs, alice.Token, room, body))
		}
		// The first attempt has failed: everything is queued.
		deadline := time.Now().Add(pushWait)
		for gw.requestCount() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the gateway was never tried")
			}
			time.Sleep(20 * time.Millisecond)
		}
		waitForMetric(t, hs, `foyer_push_queue_length{gateway="`+strings.TrimPrefix(gw.srv.URL, "https://")+`"} 3`)
		hs.Stop(t)
		gw.setRespond(nil)
		hs.Resume(t)
		for i, want := range sent {
			if n := gw.next(t, "bob-key", pushWait); n["event_id"] != want {
				t.Fatalf("notification %d after the restart is %v, want %s", i, n["event_id"], want)
			}
		}
	})
}

// A gateway that never answers costs its own pushers a timeout per try
// and, after push.give_up_after, their notifications; other users'
// gateways are served meanwhile.
func TestPushGatewayUnresponsive(t *testing.T) {
	ca := outboundtest.NewCA(t)
	silent := startPushGateway(t, ca)
	silent.setHang(true)
	working := startPushGateway(t, ca)
	cfg := pushConfig(t, "sqlite", ca)
	cfg.Push.RequestTimeout = 300 * time.Millisecond
	cfg.Push.GiveUpAfter = 1500 * time.Millisecond
	hs := testharness.Start(t, cfg)
	alice, bob, carol, room := threeInAPublicRoom(t, hs)
	setHTTPPusher(t, hs, bob, "bob-key", map[string]any{"url": silent.URL})
	setHTTPPusher(t, hs, carol, "carol-key", map[string]any{"url": working.URL})

	var sent []string
	for _, body := range []string{"one", "two", "three"} {
		sent = append(sent, sendMessage(t, hs, alice.Token, room, body))
	}
	start := time.Now()
	for _, want := range sent {
		if n := working.next(t, "carol-key", pushWait); n["event_id"] != want {
			t.Fatalf("carol got %v, want %s", n["event_id"], want)
		}
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("carol waited %s behind bob's silent gateway", waited)
	}
	// Bob's notifications are given up on: the queue empties and the
	// failures are counted.
	host := strings.TrimPrefix(silent.srv.URL, "https://")
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := string(hs.Do(t, "GET", "/metrics", "", nil).Raw)
		if strings.Contains(m, `foyer_push_notifications_failed_total{gateway="`+host+`"} 3`) &&
			!strings.Contains(m, `foyer_push_queue_length{gateway="`+host+`"}`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's notifications were not given up on:\n%s", grepLines(m, "foyer_push"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if silent.requestCount() < 2 {
		t.Fatalf("the silent gateway was tried %d times, want retries", silent.requestCount())
	}
}

// waitForMetric waits for a line of /metrics.
func waitForMetric(t *testing.T, hs *testharness.Homeserver, line string) {
	t.Helper()
	deadline := time.Now().Add(pushWait)
	for {
		m := string(hs.Do(t, "GET", "/metrics", "", nil).Raw)
		if strings.Contains(m, line+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not in /metrics:\n%s", line, grepLines(m, "foyer_push"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// An invite from another server into a room this server is not in is
// pushed to the invitee, named from the invite's stripped state.
func TestPushGatewayRemoteInvite(t *testing.T) {
	ca := outboundtest.NewCA(t)
	gw := startPushGateway(t, ca)
	servers := testharness.StartFederation(t, "sqlite", 2, func(i int, cfg *config.Config) {
		// Trust the gateway's CA beside the federation's.
		fedCA, err := os.ReadFile(cfg.Outbound.TrustedCAFile)
		if err != nil {
			t.Fatal(err)
		}
		both := filepath.Join(t.TempDir(), "cas.pem")
		if err := os.WriteFile(both, append(fedCA, ca.CertPEM...), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Outbound.TrustedCAFile = both
	})
	a, b := servers[0], servers[1]
	alice := a.RegisterUser(t, "alice")
	charlie := b.RegisterUser(t, "charlie")
	setHTTPPusher(t, a, alice, "alice-key", map[string]any{"url": gw.URL})
	room := createRoom(t, b, charlie.Token, map[string]any{"name": "Remote Plans"})
	expect(t, b.Do(t, "POST", roomPath(room, "/invite"), charlie.Token, map[string]any{"user_id": alice.UserID}), 200, "")
	n := gw.next(t, "alice-key", pushWait)
	if n["type"] != "m.room.member" || n["room_id"] != room || n["sender"] != charlie.UserID || n["membership"] != "invite" ||
		n["user_is_target"] != true || n["room_name"] != "Remote Plans" || unreadCount(t, n) != 1 {
		t.Fatalf("remote invite notification: %v", n)
	}
	r := a.Do(t, "GET", cs+"/notifications", alice.Token, nil)
	list, _ := r.JSON["notifications"].([]any)
	if len(list) != 1 {
		t.Fatalf("GET /notifications: %s", r)
	}
	ev := list[0].(map[string]any)["event"].(map[string]any)
	if ev["type"] != "m.room.member" || ev["sender"] != charlie.UserID || ev["event_id"] != n["event_id"] || ev["room_id"] != nil {
		t.Fatalf("the remote invite in GET /notifications: %v", ev)
	}
}
