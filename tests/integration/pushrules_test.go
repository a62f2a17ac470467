package integration

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"foyer/internal/push"
	"foyer/internal/server"
	"foyer/internal/testharness"
)

const pushRules = "/_matrix/client/v3/pushrules/"

func rulePath(kind, ruleID string) string {
	return pushRules + "global/" + kind + "/" + testharness.PathEscape(ruleID)
}

// ruleIDs lists the rule IDs of one kind in a ruleset response.
func ruleIDs(t *testing.T, set any, kind string) []string {
	t.Helper()
	m, ok := set.(map[string]any)
	if !ok {
		t.Fatalf("not a ruleset: %v", set)
	}
	list, ok := m[kind].([]any)
	if !ok {
		t.Fatalf("ruleset kind %s is not a list: %v", kind, m[kind])
	}
	var out []string
	for _, r := range list {
		out = append(out, r.(map[string]any)["rule_id"].(string))
	}
	return out
}

func userRuleIDs(t *testing.T, set any, kind string) string {
	var out []string
	for _, id := range ruleIDs(t, set, kind) {
		if !strings.HasPrefix(id, ".") {
			out = append(out, id)
		}
	}
	return strings.Join(out, ",")
}

// Reading push rules: users and guests (G-14) get the server defaults of
// spec v1.19 with their own user ID substituted; without a token, 401.
func TestPushRulesRead(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		user := hs.RegisterUser(t, "alice")
		guest := hs.RegisterGuest(t)
		for _, acct := range []testharness.Account{user, guest} {
			r := hs.Do(t, "GET", pushRules, acct.Token, nil)
			expect(t, r, 200, "")
			global := r.JSON["global"]
			for _, k := range []string{"override", "content", "room", "sender", "underride"} {
				ruleIDs(t, global, k)
			}
			over := ruleIDs(t, global, "override")
			if strings.Join(over, ",") != ".m.rule.master,.m.rule.suppress_notices,.m.rule.invite_for_me,.m.rule.member_event,"+
				".m.rule.is_user_mention,.m.rule.is_room_mention,.m.rule.tombstone,.m.rule.reaction,.m.rule.room.server_acl,.m.rule.suppress_edits" {
				t.Fatalf("override rules: %v", over)
			}
			if !strings.Contains(string(r.Raw), `"value":"`+acct.UserID+`"`) || !strings.Contains(string(r.Raw), `"pattern":"`+acct.UserID+`"`) {
				t.Fatalf("%s not substituted into the default rules: %s", acct.UserID, r.Raw)
			}

			r = hs.Do(t, "GET", pushRules+"global/", acct.Token, nil)
			expect(t, r, 200, "")
			if got := ruleIDs(t, r.JSON, "underride"); strings.Join(got, ",") != ".m.rule.call,.m.rule.encrypted_room_one_to_one,.m.rule.room_one_to_one,.m.rule.message,.m.rule.encrypted" {
				t.Fatalf("underride rules: %v", got)
			}

			r = hs.Do(t, "GET", rulePath("override", ".m.rule.master"), acct.Token, nil)
			expect(t, r, 200, "")
			if r.Str("rule_id") != ".m.rule.master" || r.JSON["default"] != true || r.JSON["enabled"] != false {
				t.Fatalf("master rule: %s", r)
			}
			if c, ok := r.JSON["conditions"].([]any); !ok || len(c) != 0 {
				t.Fatalf("master conditions: %s", r)
			}
			r = hs.Do(t, "GET", rulePath("override", ".m.rule.master")+"/enabled", acct.Token, nil)
			expect(t, r, 200, "")
			if r.JSON["enabled"] != false {
				t.Fatalf("enabled: %s", r)
			}
			r = hs.Do(t, "GET", rulePath("underride", ".m.rule.call")+"/actions", acct.Token, nil)
			expect(t, r, 200, "")
			if string(mustJSON(t, r.JSON["actions"])) != `["notify",{"set_tweak":"sound","value":"ring"}]` {
				t.Fatalf("actions: %s", r)
			}
			// The r0 prefix serves the same.
			expect(t, hs.Do(t, "GET", "/_matrix/client/r0/pushrules/global/override/.m.rule.master", acct.Token, nil), 200, "")
			// One kind's list (as other servers serve it).
			r = hs.Do(t, "GET", pushRules+"global/underride/", acct.Token, nil)
			if r.Status != 200 || !strings.HasPrefix(string(r.Raw), `[{"rule_id":".m.rule.call"`) {
				t.Fatalf("kind list: %s", r)
			}

			// Errors.
			expect(t, hs.Do(t, "GET", rulePath("override", ".m.rule.nope"), acct.Token, nil), 404, "M_NOT_FOUND")
			expect(t, hs.Do(t, "GET", rulePath("underride", ".m.rule.master"), acct.Token, nil), 404, "M_NOT_FOUND")
			expect(t, hs.Do(t, "GET", rulePath("override", "nope")+"/enabled", acct.Token, nil), 404, "M_NOT_FOUND")
			expect(t, hs.Do(t, "GET", rulePath("override", "nope")+"/actions", acct.Token, nil), 404, "M_NOT_FOUND")
			// A rule of a kind this server lacks does not exist (clients
			// probe other servers' kinds, such as "postcontent").
			expect(t, hs.Do(t, "GET", rulePath("bogus", ".m.rule.master"), acct.Token, nil), 404, "M_NOT_FOUND")
			expect(t, hs.Do(t, "GET", rulePath("postcontent", ".io.element.msc4306.rule.subscribed_thread"), acct.Token, nil), 404, "M_NOT_FOUND")
			expect(t, hs.Do(t, "GET", pushRules+"device/", acct.Token, nil), 404, "M_UNRECOGNIZED")
			expect(t, hs.Do(t, "GET", pushRules+"global/override/x/y/z", acct.Token, nil), 404, "M_UNRECOGNIZED")
		}
		for _, p := range []string{pushRules, pushRules + "global/", rulePath("override", ".m.rule.master"),
			rulePath("override", ".m.rule.master") + "/enabled", rulePath("override", ".m.rule.master") + "/actions"} {
			expect(t, hs.Do(t, "GET", p, "", nil), 401, "M_MISSING_TOKEN")
			expect(t, hs.Do(t, "GET", p, "not-a-token", nil), 401, "M_UNKNOWN_TOKEN")
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Creating, ordering, changing and deleting rules, with the spec's error
// codes; guests get 403 and callers without a token 401 on every write.
func TestPushRulesWrite(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		user := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		guest := hs.RegisterGuest(t)
		tok := user.Token

		// Create a content rule and read it back.
		expect(t, hs.Do(t, "PUT", rulePath("content", "nocake"), tok, map[string]any{
			"pattern": "cake*lie", "actions": []any{"notify"},
		}), 200, "")
		r := hs.Do(t, "GET", rulePath("content", "nocake"), tok, nil)
		expect(t, r, 200, "")
		if r.Str("pattern") != "cake*lie" || r.JSON["enabled"] != true || r.JSON["default"] != false || r.JSON["conditions"] != nil {
			t.Fatalf("content rule: %s", r)
		}
		// Bob's rules are his own.
		expect(t, hs.Do(t, "GET", rulePath("content", "nocake"), bob.Token, nil), 404, "M_NOT_FOUND")

		// Ordering with before/after (spec examples).
		over := func(id, query string) *testharness.Response {
			return hs.Do(t, "PUT", rulePath("override", id)+query, tok, map[string]any{
				"conditions": []any{
					map[string]any{"kind": "event_match", "key": "content.body", "pattern": "beer"},
					map[string]any{"kind": "room_member_count", "is": "<=10"},
				},
				"actions": []any{"notify", map[string]any{"set_tweak": "sound", "value": "beeroclock.wav"}},
			})
		}
		expect(t, over("a", ""), 200, "")
		expect(t, over("b", ""), 200, "")
		expect(t, over("c", "?before=a"), 200, "")
		expect(t, over("d", "?after=b"), 200, "")
		r = hs.Do(t, "GET", pushRules+"global/", tok, nil)
		if got := userRuleIDs(t, r.JSON, "override"); got != "b,d,c,a" {
			t.Fatalf("override order: %s", got)
		}
		if ids := ruleIDs(t, r.JSON, "override"); ids[0] != ".m.rule.master" || ids[5] != ".m.rule.suppress_notices" {
			t.Fatalf("user rules not between master and the other defaults: %v", ids)
		}
		expect(t, over("e", "?before=nope"), 400, "M_UNKNOWN")
		expect(t, over("e", "?after=.m.rule.master"), 400, "M_UNKNOWN")

		// Rule IDs reserved or malformed.
		expect(t, over(".m.rule.master", ""), 400, "M_UNKNOWN")
		expect(t, over(".mine", ""), 400, "M_UNKNOWN")
		expect(t, over(`back\slash`, ""), 400, "M_UNKNOWN")
		expect(t, hs.Do(t, "PUT", pushRules+"global/override/a%2Fb", tok, map[string]any{"actions": []any{}}), 400, "M_UNKNOWN")
		expect(t, hs.Do(t, "PUT", rulePath("room", "not-a-room"), tok, map[string]any{"actions": []any{}}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", rulePath("bogus", "x"), tok, map[string]any{"actions": []any{}}), 400, "M_INVALID_PARAM")

		// Body validation.
		expect(t, hs.Do(t, "PUT", rulePath("override", "x"), tok, map[string]any{}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "PUT", rulePath("content", "x"), tok, map[string]any{"actions": []any{}}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "PUT", rulePath("override", "x"), tok, `{"actions": "notify"}`), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", rulePath("override", "x"), tok, `{"actions": ["notify"], "conditions": {}}`), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", rulePath("override", "x"), tok, `{"actions": ["notify"], "conditions": ["event_match"]}`), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", rulePath("content", "x"), tok, `{"actions": ["notify"], "pattern": 5}`), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", rulePath("override", "x"), tok, `{"actions": ["explode"]}`), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", rulePath("override", "x"), tok, map[string]any{
			"actions": []any{}, "conditions": []any{map[string]any{"kind": "room_member_count", "is": "lots"}},
		}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", rulePath("override", "x"), tok, map[string]any{
			"actions": []any{}, "conditions": []any{map[string]any{"kind": "event_match", "key": "type"}},
		}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", rulePath("override", "x"), tok, `{"actions": [`), 400, "M_NOT_JSON")
		expect(t, hs.Do(t, "GET", rulePath("override", "x"), tok, nil), 404, "M_NOT_FOUND")

		// Room and sender rules; historical actions are kept as sent.
		roomRule := rulePath("room", "!dj234r78wl45Gh4D:matrix.org")
		expect(t, hs.Do(t, "PUT", roomRule, tok, map[string]any{"actions": []any{"dont_notify"}}), 200, "")
		r = hs.Do(t, "GET", roomRule+"/actions", tok, nil)
		if r.Status != 200 || string(r.Raw) != `{"actions":["dont_notify"]}` {
			t.Fatalf("room rule actions: %s", r)
		}
		expect(t, hs.Do(t, "PUT", rulePath("sender", "@spambot:matrix.org"), tok, map[string]any{"actions": []any{}}), 200, "")

		// enabled and actions on user and server-default rules.
		expect(t, hs.Do(t, "PUT", rulePath("override", ".m.rule.master")+"/enabled", tok, map[string]any{"enabled": true}), 200, "")
		r = hs.Do(t, "GET", rulePath("override", ".m.rule.master")+"/enabled", tok, nil)
		if r.Status != 200 || r.JSON["enabled"] != true {
			t.Fatalf("master enabled: %s", r)
		}
		expect(t, hs.Do(t, "PUT", rulePath("content", "nocake")+"/enabled", tok, map[string]any{"enabled": false}), 200, "")
		r = hs.Do(t, "GET", rulePath("content", "nocake"), tok, nil)
		if r.JSON["enabled"] != false {
			t.Fatalf("content rule enabled: %s", r)
		}
		expect(t, hs.Do(t, "PUT", rulePath("underride", ".m.rule.message")+"/actions", tok, map[string]any{
			"actions": []any{"notify", map[string]any{"set_tweak": "highlight"}},
		}), 200, "")
		r = hs.Do(t, "GET", rulePath("underride", ".m.rule.message"), tok, nil)
		if string(mustJSON(t, r.JSON["actions"])) != `["notify",{"set_tweak":"highlight"}]` || r.JSON["default"] != true {
			t.Fatalf("message rule actions: %s", r)
		}
		expect(t, hs.Do(t, "PUT", rulePath("override", ".m.rule.master")+"/enabled", tok, map[string]any{}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "PUT", rulePath("override", ".m.rule.master")+"/enabled", tok, `{"enabled": "yes"}`), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", rulePath("override", "nope")+"/enabled", tok, map[string]any{"enabled": true}), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "PUT", rulePath("override", ".m.rule.master")+"/actions", tok, map[string]any{}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "PUT", rulePath("override", ".m.rule.master")+"/actions", tok, `{"actions": {}}`), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", rulePath("override", ".m.rule.master")+"/actions", tok, `{"actions": [1]}`), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", rulePath("override", "nope")+"/actions", tok, map[string]any{"actions": []any{}}), 404, "M_NOT_FOUND")

		// Deleting: user rules go, server-default rules cannot.
		expect(t, hs.Do(t, "DELETE", rulePath("override", "d"), tok, nil), 200, "")
		expect(t, hs.Do(t, "DELETE", rulePath("override", "d"), tok, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "DELETE", rulePath("override", ".m.rule.master"), tok, nil), 400, "M_UNKNOWN")
		expect(t, hs.Do(t, "DELETE", rulePath("bogus", "x"), tok, nil), 404, "M_NOT_FOUND")
		r = hs.Do(t, "GET", pushRules, tok, nil)
		if got := userRuleIDs(t, r.JSON["global"], "override"); got != "b,c,a" {
			t.Fatalf("after delete: %s", got)
		}

		// Guests may read but not write; no token is 401.
		writes := []struct {
			method, path string
			body         any
		}{
			{"PUT", rulePath("override", "g"), map[string]any{"actions": []any{}}},
			{"DELETE", rulePath("override", "a"), nil},
			{"PUT", rulePath("override", ".m.rule.master") + "/enabled", map[string]any{"enabled": true}},
			{"PUT", rulePath("override", ".m.rule.master") + "/actions", map[string]any{"actions": []any{}}},
		}
		for _, w := range writes {
			expect(t, hs.Do(t, w.method, w.path, guest.Token, w.body), 403, "M_GUEST_ACCESS_FORBIDDEN")
			expect(t, hs.Do(t, w.method, w.path, "", w.body), 401, "M_MISSING_TOKEN")
		}
		r = hs.Do(t, "GET", rulePath("override", ".m.rule.master"), guest.Token, nil)
		if r.Status != 200 || r.JSON["enabled"] != false {
			t.Fatalf("guest sees the user's change: %s", r)
		}
	})
}

func pusherBody(appID, pushKey string) map[string]any {
	return map[string]any{
		"kind": "http", "app_id": appID, "pushkey": pushKey, "app_display_name": "Appy",
		"device_display_name": "Alice's Phone", "profile_tag": "xyz", "lang": "en-US",
		"data": map[string]any{"url": "https://push.example.com/_matrix/push/v1/notify", "format": "event_id_only", "extra": "kept"},
	}
}

func TestPushers(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		guest := hs.RegisterGuest(t)
		const pushers = "/_matrix/client/v3/pushers"

		r := hs.Do(t, "GET", pushers, alice.Token, nil)
		if r.Status != 200 || string(r.Raw) != `{"pushers":[]}` {
			t.Fatalf("no pushers: %s", r)
		}
		expect(t, hs.Do(t, "POST", pushers+"/set", alice.Token, pusherBody("com.example.app", "KEY1")), 200, "")
		r = hs.Do(t, "GET", pushers, alice.Token, nil)
		expect(t, r, 200, "")
		list, _ := r.JSON["pushers"].([]any)
		if len(list) != 1 {
			t.Fatalf("pushers: %s", r)
		}
		p := list[0].(map[string]any)
		if p["pushkey"] != "KEY1" || p["kind"] != "http" || p["app_id"] != "com.example.app" || p["lang"] != "en-US" ||
			p["profile_tag"] != "xyz" || p["device_display_name"] != "Alice's Phone" || p["app_display_name"] != "Appy" {
			t.Fatalf("pusher: %s", r)
		}
		if d, _ := p["data"].(map[string]any); d["extra"] != "kept" || d["format"] != "event_id_only" {
			t.Fatalf("pusher data: %s", r)
		}
		// Updating the same app_id/pushkey replaces it.
		body := pusherBody("com.example.app", "KEY1")
		body["lang"] = "fr"
		expect(t, hs.Do(t, "POST", pushers+"/set", alice.Token, body), 200, "")
		r = hs.Do(t, "GET", pushers, alice.Token, nil)
		if list, _ := r.JSON["pushers"].([]any); len(list) != 1 || list[0].(map[string]any)["lang"] != "fr" {
			t.Fatalf("updated pusher: %s", r)
		}
		// Bob registering the same pushkey takes it over; with append both keep it.
		expect(t, hs.Do(t, "POST", pushers+"/set", bob.Token, pusherBody("com.example.app", "KEY1")), 200, "")
		if r := hs.Do(t, "GET", pushers, alice.Token, nil); string(r.Raw) != `{"pushers":[]}` {
			t.Fatalf("pusher not taken over: %s", r)
		}
		body = pusherBody("com.example.app", "KEY1")
		body["append"] = true
		expect(t, hs.Do(t, "POST", pushers+"/set", alice.Token, body), 200, "")
		if r := hs.Do(t, "GET", pushers, bob.Token, nil); !strings.Contains(string(r.Raw), "KEY1") {
			t.Fatalf("append removed bob's pusher: %s", r)
		}
		// kind null deletes.
		expect(t, hs.Do(t, "POST", pushers+"/set", alice.Token, map[string]any{"kind": nil, "app_id": "com.example.app", "pushkey": "KEY1"}), 200, "")
		if r := hs.Do(t, "GET", pushers, alice.Token, nil); string(r.Raw) != `{"pushers":[]}` {
			t.Fatalf("pusher not deleted: %s", r)
		}

		// Validation.
		bad := func(mod func(b map[string]any), code string) {
			t.Helper()
			b := pusherBody("com.example.app", "KEY2")
			mod(b)
			expect(t, hs.Do(t, "POST", pushers+"/set", alice.Token, b), 400, code)
		}
		bad(func(b map[string]any) { delete(b, "kind") }, "M_MISSING_PARAM")
		bad(func(b map[string]any) { delete(b, "pushkey") }, "M_MISSING_PARAM")
		bad(func(b map[string]any) { delete(b, "app_id") }, "M_MISSING_PARAM")
		bad(func(b map[string]any) { delete(b, "lang"); delete(b, "data") }, "M_MISSING_PARAM")
		bad(func(b map[string]any) { b["data"] = map[string]any{} }, "M_MISSING_PARAM")
		bad(func(b map[string]any) { b["kind"] = "email" }, "M_INVALID_PARAM")
		bad(func(b map[string]any) { b["kind"] = 5 }, "M_BAD_JSON")
		bad(func(b map[string]any) { b["app_id"] = strings.Repeat("a", 65) }, "M_INVALID_PARAM")
		bad(func(b map[string]any) { b["pushkey"] = strings.Repeat("k", 513) }, "M_INVALID_PARAM")
		bad(func(b map[string]any) { b["data"] = map[string]any{"url": "https://push.example.com/elsewhere"} }, "M_INVALID_PARAM")
		bad(func(b map[string]any) {
			b["data"] = map[string]any{"url": "ftp://push.example.com/_matrix/push/v1/notify"}
		}, "M_INVALID_PARAM")
		bad(func(b map[string]any) { b["data"] = "https://push.example.com/_matrix/push/v1/notify" }, "M_BAD_JSON")
		expect(t, hs.Do(t, "POST", pushers+"/set", alice.Token, "nope"), 400, "M_NOT_JSON")

		// Users only.
		expect(t, hs.Do(t, "GET", pushers, guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "POST", pushers+"/set", guest.Token, pusherBody("com.example.app", "G")), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "GET", pushers, "", nil), 401, "M_MISSING_TOKEN")
		expect(t, hs.Do(t, "POST", pushers+"/set", "", pusherBody("com.example.app", "G")), 401, "M_MISSING_TOKEN")
	})
}

// Push rules and pushers live in the database: a restarted server reads
// them back, and the shared stream resumes above their positions.
func TestPushRulesPersistAcrossRestart(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		ctx := context.Background()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		const alice = "@alice:localhost"
		svc, err := server.OpenServices(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Push.PutRule(ctx, alice, push.Override, "mine", push.RuleInput{Actions: []json.RawMessage{}}, "", ""); err != nil {
			t.Fatal(err)
		}
		if err := svc.Push.SetEnabled(ctx, alice, push.Override, push.RuleMaster, true); err != nil {
			t.Fatal(err)
		}
		lang, app, key, kind, name := "en", "com.example.app", "KEY", "http", "x"
		if err := svc.Push.SetPusher(ctx, alice, "DEV", push.PusherInput{
			PushKey: &key, AppID: &app, Kind: &kind, AppDisplayName: &name, DeviceDisplayName: &name, Lang: &lang,
			Data: json.RawMessage(`{"url":"https://gw.example.com/_matrix/push/v1/notify"}`),
		}); err != nil {
			t.Fatal(err)
		}
		pos, _ := svc.Push.Position(ctx, alice)
		if pos == 0 || svc.Stream.Current() < pos {
			t.Fatalf("position %d, stream at %d", pos, svc.Stream.Current())
		}
		svc.DB.Close()

		svc, err = server.OpenServices(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		defer svc.DB.Close()
		if got := svc.Stream.Current(); got < pos {
			t.Fatalf("stream restarted at %d, below the push rules position %d", got, pos)
		}
		rs, err := svc.Push.Rules(ctx, alice)
		if err != nil || len(rs.Override) < 2 || rs.Override[1].RuleID != "mine" || !rs.Override[0].Enabled {
			t.Fatalf("rules after restart: %+v %v", rs.Override, err)
		}
		if p2, _ := svc.Push.Position(ctx, alice); p2 != pos {
			t.Fatalf("position after restart %d, want %d", p2, pos)
		}
		if changed, _ := svc.Push.ChangedBetween(ctx, alice, 0, svc.Stream.Current()); !changed {
			t.Fatal("initial sync range does not include the change")
		}
		ps, err := svc.Push.Pushers(ctx, alice)
		if err != nil || len(ps) != 1 || ps[0].DeviceID != "DEV" {
			t.Fatalf("pushers after restart: %+v %v", ps, err)
		}
		notify, _, err := svc.Push.Evaluate(ctx, alice, push.Event{Type: "m.room.message", Sender: "@bob:localhost", RoomID: "!r:localhost",
			Content: json.RawMessage(`{"msgtype":"m.text","body":"hi"}`)}, push.RoomContext{MemberCount: 2})
		if err != nil || notify {
			t.Fatalf("master rule enabled, but notify=%v err=%v", notify, err)
		}
	})
}

// A device that logs out, or is deleted, stops receiving notifications:
// its pushers go with it, while the user's other devices keep theirs.
func TestPushersLeaveWithTheirDevice(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		const pushers = "/_matrix/client/v3/pushers"
		login := func() string {
			t.Helper()
			r := hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{
				"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": alice.Password,
			})
			expect(t, r, 200, "")
			return r.Str("access_token")
		}
		keys := func() string {
			t.Helper()
			r := hs.Do(t, "GET", pushers, alice.Token, nil)
			expect(t, r, 200, "")
			var out []string
			list, _ := r.JSON["pushers"].([]any)
			for _, p := range list {
				out = append(out, p.(map[string]any)["pushkey"].(string))
			}
			sort.Strings(out)
			return strings.Join(out, ",")
		}
		phone, tablet := login(), login()
		expect(t, hs.Do(t, "POST", pushers+"/set", alice.Token, pusherBody("com.example.app", "MAIN")), 200, "")
		expect(t, hs.Do(t, "POST", pushers+"/set", phone, pusherBody("com.example.app", "PHONE")), 200, "")
		expect(t, hs.Do(t, "POST", pushers+"/set", tablet, pusherBody("com.example.app", "TABLET")), 200, "")
		if got := keys(); got != "MAIN,PHONE,TABLET" {
			t.Fatalf("pushers before logout: %s", got)
		}
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/logout", phone, map[string]any{}), 200, "")
		if got := keys(); got != "MAIN,TABLET" {
			t.Fatalf("after the phone logged out: %s", got)
		}
		// Changing the password logs the other devices out, and their pushers go.
		r := hs.Do(t, "POST", "/_matrix/client/v3/account/password", alice.Token, map[string]any{
			"new_password": "another-secret-9",
			"auth":         map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": alice.Password},
		})
		expect(t, r, 200, "")
		if got := keys(); got != "MAIN" {
			t.Fatalf("after the password change logged the tablet out: %s", got)
		}
	})
}
