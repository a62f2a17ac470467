package integration

import (
	"strconv"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// messageBodies are the bodies of the m.room.message events among evs,
// in order.
func messageBodies(evs []map[string]any) []string {
	var out []string
	for _, ev := range evs {
		if ev["type"] != "m.room.message" {
			continue
		}
		c, _ := ev["content"].(map[string]any)
		b, _ := c["body"].(string)
		out = append(out, b)
	}
	return out
}

func hasBodies(want ...string) func([]map[string]any) bool {
	return func(evs []map[string]any) bool {
		got := messageBodies(evs)
		return len(got) >= len(want) && equalStrings(got[len(got)-len(want):], want)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAppServiceTransactions: the events of rooms where a namespaced user
// is joined reach the service in order, with the hs_token, each once:
// through an outage of the service (retried with backoff, clients
// unaffected) and across a restart of the server with a transaction
// still undelivered (sent again with the same ID and events).
func TestAppServiceTransactions(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		as := newTestAppService(t, "irc")
		hs := testharness.Start(t, appServiceConfig(t, backend, as.registration(t, "irc", "ircbot", ircNamespaces, "")))
		server := hs.Config.ServerName
		carol := hs.RegisterUser(t, "carol")
		asDo(t, hs, as, "POST", "/_matrix/client/v3/register", "", map[string]any{"type": "m.login.application_service", "username": "irc_bob"})
		bridged := createRoom(t, hs, carol.Token, map[string]any{"preset": "public_chat"})
		private := createRoom(t, hs, carol.Token, map[string]any{"preset": "public_chat"})
		if r := asDo(t, hs, as, "POST", "/_matrix/client/v3/join/"+testharness.PathEscape(bridged), "@irc_bob:"+server, map[string]any{}); r.Status != 200 {
			t.Fatalf("join: %s", r)
		}
		for i := 1; i <= 3; i++ {
			sendMessage(t, hs, carol.Token, bridged, "m"+strconv.Itoa(i))
		}
		sendMessage(t, hs, carol.Token, private, "not for the bridge")
		evs := as.waitFor(t, "m1..m3", hasBodies("m1", "m2", "m3"))
		sawJoin := false
		for _, ev := range evs {
			if ev["type"] == "m.room.member" && ev["state_key"] == "@irc_bob:"+server {
				sawJoin = true
			}
			if ev["room_id"] == private {
				t.Errorf("an event of a room the service has no interest in: %v", ev)
			}
		}
		if !sawJoin {
			t.Errorf("the namespaced user's join was not delivered: %v", evs)
		}

		// An outage: clients go on, the transaction waits.
		as.setDown(true)
		start := time.Now()
		sendMessage(t, hs, carol.Token, bridged, "m4")
		sendMessage(t, hs, carol.Token, bridged, "m5")
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("sending took %s while the service was down", took)
		}
		waitAttempts(t, as, 2)
		as.setDown(false)
		as.waitFor(t, "m4, m5 after the outage", hasBodies("m1", "m2", "m3", "m4", "m5"))

		// A restart with a transaction undelivered.
		as.setDown(true)
		sendMessage(t, hs, carol.Token, bridged, "m6")
		sendMessage(t, hs, carol.Token, bridged, "m7")
		waitAttempts(t, as, 1)
		hs.Stop(t)
		as.setDown(false)
		hs.Resume(t)
		sendMessage(t, hs, carol.Token, bridged, "m8")
		evs = as.waitFor(t, "m6..m8 after the restart", hasBodies("m6", "m7", "m8"))
		if got := messageBodies(evs); !equalStrings(got, []string{"m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"}) {
			t.Errorf("messages delivered %v, want m1..m8 once each, in order", got)
		}
		seen := map[any]bool{}
		for _, ev := range evs {
			if seen[ev["event_id"]] {
				t.Errorf("event %v delivered twice", ev["event_id"])
			}
			seen[ev["event_id"]] = true
		}
		as.mu.Lock()
		defer as.mu.Unlock()
		if as.badAuth != 0 {
			t.Errorf("%d requests came without the hs_token", as.badAuth)
		}
		for i := 1; i < len(as.txns); i++ {
			a, _ := strconv.Atoi(as.txns[i-1])
			b, _ := strconv.Atoi(as.txns[i])
			if b <= a {
				t.Errorf("transaction IDs out of order: %v", as.txns)
			}
		}
	})
}

// waitAttempts waits until the service has refused n more attempts.
func waitAttempts(t *testing.T, as *testAppService, n int) {
	t.Helper()
	as.mu.Lock()
	base := as.seen
	as.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		as.mu.Lock()
		got := as.seen - base
		as.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the server did not retry %d times while the service was down", n)
}
