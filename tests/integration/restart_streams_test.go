package integration

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"foyer/internal/clientsync"
	"foyer/internal/testharness"
)

// A sync token taken before a restart, clean or a crash, must see every
// write made after it, on every stream, even when the last positions
// handed out before the restart stored nothing (receipts that do not move
// forward, identical device keys uploaded again).
func TestSyncSeesEveryStreamAfterRestart(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		for _, stop := range []string{"sigterm", "kill9"} {
			t.Run(stop, func(t *testing.T) {
				args := append(storageArgs(t, backend), "--listen", "127.0.0.1:0", "--registration", "open")
				env := foyerEnv("FOYER_E2EE_VERIFY_KEY_SIGNATURES=false")
				p := startFoyerProc(t, args, env)
				alice := procRegister(t, p, "alice")
				bob := procRegister(t, p, "bob")
				room := procCreateRoom(t, p, alice.Token, map[string]any{"preset": "public_chat"})
				procMust(t, p, "POST", "/_matrix/client/v3/join/"+url.PathEscape(room), bob.Token, map[string]any{})
				peekRoom := procCreateRoom(t, p, bob.Token, map[string]any{"preset": "public_chat",
					"initial_state": []any{map[string]any{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "world_readable"}}}})
				first := procSend(t, p, bob.Token, room, "first")
				second := procSend(t, p, bob.Token, room, "second")
				procMust(t, p, "POST", roomPath(room, "/receipt/m.read/"+url.PathEscape(second)), bob.Token, map[string]any{})
				keys := func(device string) map[string]any {
					return map[string]any{"device_keys": map[string]any{
						"user_id": bob.UserID, "device_id": device,
						"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
						"keys":       map[string]any{"curve25519:" + device: "curve-" + device, "ed25519:" + device: "ed-" + device},
						"signatures": map[string]any{bob.UserID: map[string]any{"ed25519:" + device: "sig"}},
					}}
				}
				procMust(t, p, "POST", "/_matrix/client/v3/keys/upload", bob.Token, keys(bob.DeviceID))

				// Positions that store nothing: a receipt that would move
				// backwards, and the same keys again, many times over. (A
				// first sync before them sets alice online, a stored write.)
				procSync(t, p, alice.Token, "")
				for range 15 {
					procMust(t, p, "POST", roomPath(room, "/receipt/m.read/"+url.PathEscape(first)), bob.Token, map[string]any{})
					procMust(t, p, "POST", "/_matrix/client/v3/keys/upload", bob.Token, keys(bob.DeviceID))
				}
				since := procSync(t, p, alice.Token, "").Str("next_batch")

				switch stop {
				case "sigterm":
					terminate(t, p)
				case "kill9":
					p.kill9()
				}
				p = startFoyerProc(t, args, env)

				// One write on every stream alice's sync follows.
				msg := procSend(t, p, bob.Token, room, "after the restart")
				procMust(t, p, "POST", roomPath(room, "/receipt/m.read/"+url.PathEscape(msg)), bob.Token, map[string]any{})
				procMust(t, p, "PUT", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/account_data/org.example.global", alice.Token, map[string]any{"n": 1})
				procMust(t, p, "PUT", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/rooms/"+url.PathEscape(room)+"/account_data/org.example.room", alice.Token, map[string]any{"n": 2})
				procMust(t, p, "PUT", "/_matrix/client/v3/pushrules/global/override/org.example.rule", alice.Token, map[string]any{"actions": []string{"dont_notify"}, "conditions": []any{}})
				procMust(t, p, "PUT", "/_matrix/client/v3/sendToDevice/m.test/restart-txn", bob.Token, map[string]any{
					"messages": map[string]any{alice.UserID: map[string]any{alice.DeviceID: map[string]any{"hello": "alice"}}}})
				login := procMust(t, p, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password",
					"identifier": map[string]any{"type": "m.id.user", "user": "bob"}, "password": "pw-bob"})
				procMust(t, p, "POST", "/_matrix/client/v3/keys/upload", login.Str("access_token"), keys(login.Str("device_id")))
				procMust(t, p, "PUT", "/_matrix/client/v3/presence/"+url.PathEscape(bob.UserID)+"/status", bob.Token, map[string]any{"presence": "unavailable", "status_msg": "back"})
				procMust(t, p, "PUT", roomPath(room, "/typing/"+url.PathEscape(bob.UserID)), bob.Token, map[string]any{"typing": true, "timeout": 30000})
				procMust(t, p, "POST", "/_matrix/client/v3/peek/"+url.PathEscape(peekRoom), alice.Token, map[string]any{})

				r := procSync(t, p, alice.Token, since)
				var s syncResp
				if err := json.Unmarshal(r.Raw, &s); err != nil {
					t.Fatalf("sync: %v: %s", err, r)
				}
				next, ok := clientsync.ParseToken(s.NextBatch)
				prev, _ := clientsync.ParseToken(since)
				if !ok || next.Pos <= prev.Pos {
					t.Errorf("next_batch %q does not move past the pre-restart token %q", s.NextBatch, since)
				}
				joined := s.Rooms.Join[room]
				var missing []string
				if !slices.ContainsFunc(joined.Timeline.Events, func(e syncEvent) bool { return e.EventID == msg }) {
					missing = append(missing, "timeline event")
				}
				if !slices.ContainsFunc(joined.Ephemeral.Events, func(e syncEvent) bool {
					return e.Type == "m.receipt" && containsKey(e.Content, msg)
				}) {
					missing = append(missing, "receipt")
				}
				if !slices.ContainsFunc(joined.Ephemeral.Events, func(e syncEvent) bool {
					return e.Type == "m.typing" && containsKey(e.Content, bob.UserID)
				}) {
					missing = append(missing, "typing")
				}
				if !slices.ContainsFunc(joined.AccountData.Events, func(e syncEvent) bool { return e.Type == "org.example.room" }) {
					missing = append(missing, "room account data")
				}
				if !slices.ContainsFunc(s.AccountData.Events, func(e syncEvent) bool { return e.Type == "org.example.global" }) {
					missing = append(missing, "global account data")
				}
				if !slices.ContainsFunc(s.AccountData.Events, func(e syncEvent) bool {
					return e.Type == "m.push_rules" && containsKey(e.Content, "org.example.rule")
				}) {
					missing = append(missing, "push rules")
				}
				if !slices.ContainsFunc(s.ToDevice.Events, func(e syncEvent) bool { return e.Type == "m.test" }) {
					missing = append(missing, "to-device message")
				}
				if !slices.Contains(s.DeviceLists.Changed, bob.UserID) {
					missing = append(missing, "device list change")
				}
				if !slices.ContainsFunc(s.Presence.Events, func(e syncEvent) bool {
					return e.Sender == bob.UserID && containsKey(e.Content, "unavailable")
				}) {
					missing = append(missing, "presence")
				}
				if _, ok := s.Rooms.Peek[peekRoom]; !ok {
					missing = append(missing, "peek")
				}
				if len(missing) > 0 {
					t.Errorf("the sync from before the restart misses: %v\n%s", missing, r)
				}
			})
		}
	})
}

// containsKey reports whether s appears as a string (key or value) in
// content.
func containsKey(content map[string]any, s string) bool {
	raw, _ := json.Marshal(content)
	q, _ := json.Marshal(s)
	return strings.Contains(string(raw), string(q))
}

func procRegister(t *testing.T, p *foyerProc, name string) testharness.Account {
	t.Helper()
	r := procMust(t, p, "POST", "/_matrix/client/v3/register", "", map[string]any{
		"username": name, "password": "pw-" + name, "auth": map[string]any{"type": "m.login.dummy"}})
	return testharness.Account{UserID: r.Str("user_id"), DeviceID: r.Str("device_id"), Token: r.Str("access_token")}
}

func procCreateRoom(t *testing.T, p *foyerProc, token string, body map[string]any) string {
	t.Helper()
	return procMust(t, p, "POST", "/_matrix/client/v3/createRoom", token, body).Str("room_id")
}

var procTxn int

func procSend(t *testing.T, p *foyerProc, token, room, text string) string {
	t.Helper()
	procTxn++
	return procMust(t, p, "PUT", roomPath(room, fmt.Sprintf("/send/m.room.message/proc%d", procTxn)), token,
		map[string]any{"msgtype": "m.text", "body": text}).Str("event_id")
}

func procSync(t *testing.T, p *foyerProc, token, since string) *testharness.Response {
	t.Helper()
	path := "/_matrix/client/v3/sync?timeout=0"
	if since != "" {
		path += "&since=" + url.QueryEscape(since)
	}
	return procMust(t, p, "GET", path, token, nil)
}

// procMust sends a request to the process and wants 200.
func procMust(t *testing.T, p *foyerProc, method, path, token string, body any) *testharness.Response {
	t.Helper()
	r := p.must(method, path, token, body)
	if r.Status != 200 {
		t.Fatalf("%s %s: %s", method, path, r)
	}
	return r
}
