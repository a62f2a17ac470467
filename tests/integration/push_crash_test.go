package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"foyer/internal/outbound/outboundtest"
	"foyer/internal/testharness"
)

// An acknowledged message is pushed even when the server is killed
// (SIGKILL) before it sent the push, or before it even turned the message
// into a notification: a slow gateway lets the queue grow while alice
// sends, the server is killed mid-stream and restarted on the same
// storage, and every message it had answered 200 reaches bob's gateway.
func TestPushGatewayNoPushLostToKill9(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		ca := outboundtest.NewCA(t)
		var mu sync.Mutex
		received := map[string]bool{}
		gw := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			time.Sleep(20 * time.Millisecond)
			var req struct {
				Notification struct {
					EventID string `json:"event_id"`
				} `json:"notification"`
			}
			if json.Unmarshal(body, &req) == nil && req.Notification.EventID != "" {
				mu.Lock()
				received[req.Notification.EventID] = true
				mu.Unlock()
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"rejected": []}`)
		}))
		gw.TLS = ca.ServerTLSConfig(t, "127.0.0.1")
		gw.StartTLS()
		defer gw.Close()

		args := append(storageArgs(t, backend), "--listen", "127.0.0.1:0", "--registration", "open")
		env := foyerEnv("FOYER_OUTBOUND_ALLOW_PRIVATE_ADDRESSES=true", "FOYER_OUTBOUND_TRUSTED_CA_FILE="+ca.WriteFile(t))
		p := startFoyerProc(t, args, env)
		register := func(name string) testharness.Account {
			r := p.must("POST", "/_matrix/client/v3/register", "", map[string]any{"username": name, "password": "pw-" + name,
				"auth": map[string]any{"type": "m.login.dummy"}})
			if r.Status != 200 {
				t.Fatalf("register %s: %s", name, r)
			}
			return testharness.Account{UserID: r.Str("user_id"), Token: r.Str("access_token")}
		}
		alice, bob := register("alice"), register("bob")
		r := p.must("POST", cs+"/createRoom", alice.Token, map[string]any{"preset": "public_chat"})
		room := r.Str("room_id")
		if r := p.must("POST", roomPath(room, "/join"), bob.Token, map[string]any{}); r.Status != 200 {
			t.Fatalf("join: %s", r)
		}
		if r := p.must("POST", cs+"/pushers/set", bob.Token, map[string]any{"kind": "http", "app_id": "a", "pushkey": "bob-key",
			"app_display_name": "A", "device_display_name": "D", "lang": "en",
			"data": map[string]any{"url": gw.URL + "/_matrix/push/v1/notify"}}); r.Status != 200 {
			t.Fatalf("pusher: %s", r)
		}

		var acked []string
		var ackedMu sync.Mutex
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := p.do("PUT", roomPath(room, fmt.Sprintf("/send/m.room.message/crash%d", i)), alice.Token,
					map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("message %d", i)})
				if err != nil {
					return // the server is gone
				}
				if r.Status == 200 {
					ackedMu.Lock()
					acked = append(acked, r.Str("event_id"))
					ackedMu.Unlock()
				}
			}
		}()
		time.Sleep(700 * time.Millisecond)
		p.kill9()
		close(stop)
		<-done
		mu.Lock()
		before := len(received)
		mu.Unlock()
		ackedMu.Lock()
		sent := append([]string(nil), acked...)
		ackedMu.Unlock()
		if len(sent) == 0 {
			t.Fatal("no message was acknowledged before the kill")
		}
		t.Logf("%d messages acknowledged, %d pushed before the kill", len(sent), before)

		startFoyerProc(t, args, env)
		deadline := time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			var missing []string
			for _, id := range sent {
				if !received[id] {
					missing = append(missing, id)
				}
			}
			mu.Unlock()
			if len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d acknowledged messages never pushed after the restart, first %s", len(missing), len(sent), missing[0])
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
