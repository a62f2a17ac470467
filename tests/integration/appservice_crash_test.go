package integration

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// TestAppServiceTransactionsSurviveKill9: the real binary is killed with
// SIGKILL while the service is down, with one transaction built and
// refused and more messages after it; started again, it delivers every
// message once, in order.
func TestAppServiceTransactionsSurviveKill9(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		as := newTestAppService(t, "irc")
		args := append(storageArgs(t, backend), "--listen", "127.0.0.1:0", "--registration", "open")
		env := foyerEnv("FOYER_APP_SERVICE_CONFIG_FILES="+as.registration(t, "irc", "ircbot", ircNamespaces, ""),
			"FOYER_APP_SERVICE_MAX_BACKOFF=100ms")
		p := startFoyerProc(t, args, env)
		r := p.must("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "carol", "password": "carol-password",
			"auth": map[string]any{"type": "m.login.dummy"}})
		carol := r.Str("access_token")
		p.must("POST", "/_matrix/client/v3/register", as.asToken, map[string]any{"type": "m.login.application_service", "username": "irc_bob"})
		room := p.must("POST", "/_matrix/client/v3/createRoom", carol, map[string]any{"preset": "public_chat"}).Str("room_id")
		if r := p.must("POST", "/_matrix/client/v3/join/"+url.PathEscape(room)+"?user_id="+url.QueryEscape("@irc_bob:localhost"), as.asToken, map[string]any{}); r.Status != 200 {
			t.Fatalf("join: %s", r)
		}
		send := func(p *foyerProc, body string) {
			t.Helper()
			if r := p.must("PUT", roomPath(room, "/send/m.room.message/"+body), carol, map[string]any{"msgtype": "m.text", "body": body}); r.Status != 200 {
				t.Fatalf("send %s: %s", body, r)
			}
		}
		send(p, "m1")
		as.waitFor(t, "m1", hasBodies("m1"))

		as.setDown(true)
		send(p, "m2")
		waitAttempts(t, as, 1)
		send(p, "m3")
		send(p, "m4")
		p.kill9()

		as.setDown(false)
		p = startFoyerProc(t, args, env)
		send(p, "m5")
		as.waitFor(t, "m2..m5 after the kill", hasBodies("m5"))
		time.Sleep(200 * time.Millisecond) // room for a duplicate to arrive
		if got := messageBodies(as.events()); fmt.Sprint(got) != "[m1 m2 m3 m4 m5]" {
			t.Errorf("delivered %v, want m1..m5 once each, in order", got)
		}
	})
}
