package push

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"foyer/internal/refusal"
)

// memStore is an in-memory Store.
type memStore struct {
	mu      sync.Mutex
	docs    map[string][]byte
	pos     map[string]int64
	pushers []Pusher
}

func newMemStore() *memStore {
	return &memStore{docs: map[string][]byte{}, pos: map[string]int64{}}
}

func (m *memStore) UserRules(_ context.Context, userID string) ([]byte, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.docs[userID], m.pos[userID], nil
}

func (m *memStore) PutUserRules(_ context.Context, userID string, doc []byte, pos int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pos > m.pos[userID] {
		m.docs[userID], m.pos[userID] = doc, pos
	}
	return nil
}

func (m *memStore) Pushers(_ context.Context, userID string) ([]Pusher, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Pusher
	for _, p := range m.pushers {
		if p.UserID == userID {
			out = append(out, p)
		}
	}
	return out, nil
}

func (m *memStore) PutPusher(_ context.Context, p Pusher, exclusive bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keep []Pusher
	for _, q := range m.pushers {
		same := q.AppID == p.AppID && q.PushKey == p.PushKey
		if same && (q.UserID == p.UserID || exclusive) {
			continue
		}
		keep = append(keep, q)
	}
	m.pushers = append(keep, p)
	return nil
}

func (m *memStore) DeletePusher(_ context.Context, userID, appID, pushKey string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keep []Pusher
	for _, q := range m.pushers {
		if q.UserID == userID && q.AppID == appID && q.PushKey == pushKey {
			continue
		}
		keep = append(keep, q)
	}
	m.pushers = keep
	return nil
}

type counter struct {
	mu sync.Mutex
	n  int64
}

func (c *counter) Reserve(context.Context) (int64, func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n, func() {}, nil
}

func newTestService() (*Service, *memStore) {
	st := newMemStore()
	return NewService(st, &counter{}), st
}

func wantKind(t *testing.T, err error, kind refusal.Kind) {
	t.Helper()
	var pe *refusal.Error
	if !errors.As(err, &pe) || pe.Kind != kind {
		t.Fatalf("want error kind %d, got %v", kind, err)
	}
}

func ids(rules []Rule) string {
	var out []string
	for _, r := range rules {
		out = append(out, r.RuleID)
	}
	return strings.Join(out, ",")
}

func userIDs(rules []Rule) string {
	var out []string
	for _, r := range rules {
		if !r.Default {
			out = append(out, r.RuleID)
		}
	}
	return strings.Join(out, ",")
}

func TestRulesDefaultsAndSerialisation(t *testing.T) {
	s, _ := newTestService()
	ctx := context.Background()
	rs, err := s.Rules(ctx, me)
	if err != nil {
		t.Fatal(err)
	}
	wantOverride := ".m.rule.master,.m.rule.suppress_notices,.m.rule.invite_for_me,.m.rule.member_event,.m.rule.is_user_mention," +
		".m.rule.is_room_mention,.m.rule.tombstone,.m.rule.reaction,.m.rule.room.server_acl,.m.rule.suppress_edits"
	wantUnderride := ".m.rule.call,.m.rule.encrypted_room_one_to_one,.m.rule.room_one_to_one,.m.rule.message,.m.rule.encrypted"
	if ids(rs.Override) != wantOverride || ids(rs.Underride) != wantUnderride || len(rs.Content) != 0 {
		t.Fatalf("default rules:\n%s\n%s\n%s", ids(rs.Override), ids(rs.Content), ids(rs.Underride))
	}
	b, _ := json.Marshal(map[string]RuleSet{"global": rs})
	var parsed struct {
		Global map[string][]map[string]any `json:"global"`
	}
	if err := json.Unmarshal(b, &parsed); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"override", "content", "room", "sender", "underride"} {
		if parsed.Global[k] == nil {
			t.Fatalf("kind %s missing or null: %s", k, b)
		}
	}
	master := parsed.Global["override"][0]
	if master["enabled"] != false || master["default"] != true || master["conditions"] == nil || master["actions"] == nil {
		t.Fatalf("master rule: %v", master)
	}
	invite := parsed.Global["override"][2]
	conds := invite["conditions"].([]any)
	if conds[2].(map[string]any)["pattern"] != me {
		t.Fatalf("user ID not substituted: %v", invite)
	}
	mention := parsed.Global["override"][4]
	c := mention["conditions"].([]any)[0].(map[string]any)
	if c["key"] != `content.m\.mentions.user_ids` || c["value"] != me {
		t.Fatalf("mention rule: %v", mention)
	}
	tomb := parsed.Global["override"][6]
	if tomb["conditions"].([]any)[1].(map[string]any)["pattern"] != "" {
		t.Fatalf("tombstone state_key pattern must be an empty string: %v", tomb)
	}
	acl := parsed.Global["override"][8]
	if acl["rule_id"] != ".m.rule.room.server_acl" {
		t.Fatalf("%v", acl)
	}
	msgRule := parsed.Global["underride"][3]
	if _, has := msgRule["pattern"]; has {
		t.Fatalf("pattern on an underride rule: %v", msgRule)
	}
}

func TestPutRuleOrderingAndErrors(t *testing.T) {
	s, _ := newTestService()
	ctx := context.Background()
	put := func(k Kind, id, before, after string) error {
		in := RuleInput{Actions: acts(`"notify"`)}
		if k == Content {
			in.Pattern = strp(id)
		}
		return s.PutRule(ctx, me, k, id, in, before, after)
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := put(Override, id, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	rs, _ := s.Rules(ctx, me)
	// New rules go first; all come after master and before the other defaults.
	if got := ids(rs.Override[:4]); got != ".m.rule.master,c,b,a" || rs.Override[4].RuleID != RuleSuppressNotices {
		t.Fatalf("override order: %s", ids(rs.Override))
	}
	if err := put(Override, "d", "b", ""); err != nil {
		t.Fatal(err)
	}
	if err := put(Override, "e", "", "b"); err != nil {
		t.Fatal(err)
	}
	// before wins over after.
	if err := put(Override, "f", "c", "a"); err != nil {
		t.Fatal(err)
	}
	// Moving an existing rule.
	if err := put(Override, "a", "f", ""); err != nil {
		t.Fatal(err)
	}
	rs, _ = s.Rules(ctx, me)
	if got := userIDs(rs.Override); got != "a,f,c,d,b,e" {
		t.Fatalf("after before/after: %s", got)
	}
	// Replacing without before/after keeps the place and enabled state.
	if err := s.SetEnabled(ctx, me, Override, "d", false); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRule(ctx, me, Override, "d", RuleInput{Actions: acts(), Conditions: []json.RawMessage{json.RawMessage(`{"kind":"event_match","key":"type","pattern":"x"}`)}}, "", ""); err != nil {
		t.Fatal(err)
	}
	r, err := s.Rule(ctx, me, Override, "d")
	if err != nil || r.Enabled || len(r.Conditions) != 1 || len(r.Actions) != 0 {
		t.Fatalf("replaced rule: %+v %v", r, err)
	}
	rs, _ = s.Rules(ctx, me)
	if got := userIDs(rs.Override); got != "a,f,c,d,b,e" {
		t.Fatalf("after replace: %s", got)
	}

	wantKind(t, put(Override, "g", "nope", ""), refusal.Unknown)
	wantKind(t, put(Override, "g", RuleMessage, ""), refusal.Unknown)
	wantKind(t, put(Override, "g", "", RuleMaster), refusal.Unknown)
	wantKind(t, put(Override, ".mine", "", ""), refusal.Unknown)
	wantKind(t, put(Override, RuleMaster, "", ""), refusal.Unknown)
	wantKind(t, put(Override, "a/b", "", ""), refusal.Unknown)
	wantKind(t, put(Override, `a\b`, "", ""), refusal.Unknown)
	wantKind(t, put(Kind("global"), "x", "", ""), refusal.InvalidParam)
	wantKind(t, put(Room, "not-a-room", "", ""), refusal.InvalidParam)
	wantKind(t, put(Sender, "not-a-user", "", ""), refusal.InvalidParam)
	wantKind(t, s.PutRule(ctx, me, Content, "p", RuleInput{Actions: acts()}, "", ""), refusal.MissingParam)
	wantKind(t, s.PutRule(ctx, me, Override, "x", RuleInput{}, "", ""), refusal.MissingParam)
	wantKind(t, s.PutRule(ctx, me, Override, "x", RuleInput{Actions: acts(`"explode"`)}, "", ""), refusal.InvalidParam)
	wantKind(t, s.PutRule(ctx, me, Override, "x", RuleInput{Actions: acts(`5`)}, "", ""), refusal.BadJSON)
	wantKind(t, s.PutRule(ctx, me, Override, "x", RuleInput{Actions: acts(`{"set_tweak":"highlight","value":"yes"}`)}, "", ""), refusal.InvalidParam)
	for _, bad := range []string{
		`{"kind":"event_match","key":"type"}`,
		`{"kind":"event_match","pattern":"x"}`,
		`{"kind":"room_member_count","is":"two"}`,
		`{"kind":"room_member_count"}`,
		`{"kind":"event_property_is","key":"content.x","value":{"a":1}}`,
		`{"kind":"event_property_is","key":"content.x","value":1.5}`,
		`{"kind":"event_property_contains","key":"content.x"}`,
		`{"kind":"sender_notification_permission"}`,
		`{"kind":""}`,
	} {
		err := s.PutRule(ctx, me, Override, "x", RuleInput{Actions: acts(), Conditions: []json.RawMessage{json.RawMessage(bad)}}, "", "")
		wantKind(t, err, refusal.InvalidParam)
	}
	for _, bad := range []string{`"event_match"`, `{"key":"type"}`, `{"kind":5}`, `{"kind":"event_match","key":1,"pattern":"x"}`} {
		err := s.PutRule(ctx, me, Override, "x", RuleInput{Actions: acts(), Conditions: []json.RawMessage{json.RawMessage(bad)}}, "", "")
		wantKind(t, err, refusal.BadJSON)
	}
	// Unknown condition kinds are accepted (and never match), extra fields kept.
	if err := s.PutRule(ctx, me, Override, "future", RuleInput{Actions: acts(`"notify"`),
		Conditions: []json.RawMessage{json.RawMessage(`{"kind":"org.example.new","rel_type":"m.thread","n":1}`)}}, "", ""); err != nil {
		t.Fatal(err)
	}
	r, _ = s.Rule(ctx, me, Override, "future")
	b, _ := json.Marshal(r.Conditions)
	if string(b) != `[{"kind":"org.example.new","n":1,"rel_type":"m.thread"}]` {
		t.Fatalf("unknown condition round trip: %s", b)
	}
	if m, ok := EvaluateRuleSet(mustRules(t, s), me, msg("x"), group()); !ok || m.RuleID == "future" {
		t.Fatalf("unknown condition matched: %+v", m)
	}
	// Historical actions are kept as sent (and ignored when evaluated).
	if err := s.PutRule(ctx, me, Override, "old", RuleInput{Actions: acts(`"dont_notify"`)}, "", ""); err != nil {
		t.Fatal(err)
	}
	r, _ = s.Rule(ctx, me, Override, "old")
	if len(r.Actions) != 1 || string(r.Actions[0]) != `"dont_notify"` {
		t.Fatalf("dont_notify not kept: %v", r.Actions)
	}
}

func mustRules(t *testing.T, s *Service) RuleSet {
	t.Helper()
	rs, err := s.Rules(context.Background(), me)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestDefaultRuleChangesAndDelete(t *testing.T) {
	s, st := newTestService()
	ctx := context.Background()
	if err := s.SetEnabled(ctx, me, Override, RuleMaster, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetActions(ctx, me, Underride, RuleMessage, acts(`"notify"`, `{"set_tweak":"sound","value":"bing"}`)); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Rule(ctx, me, Override, RuleMaster)
	if !r.Enabled || !r.Default {
		t.Fatalf("master: %+v", r)
	}
	// A fresh service over the same store reads the same state back.
	s2 := NewService(st, &counter{n: 100})
	r, _ = s2.Rule(ctx, me, Underride, RuleMessage)
	if len(r.Actions) != 2 || string(r.Actions[1]) != `{"set_tweak":"sound","value":"bing"}` {
		t.Fatalf("actions not stored: %s", r.Actions)
	}
	notify, _, err := s2.Evaluate(ctx, me, msg("hi"), group())
	if err != nil || notify {
		t.Fatalf("master enabled but notified: %v %v", notify, err)
	}
	// Another user is unaffected.
	notify, _, _ = s2.Evaluate(ctx, other, Event{Type: "m.room.message", Sender: me, RoomID: room, Content: json.RawMessage(`{"body":"x"}`)}, group())
	if !notify {
		t.Fatal("other user's rules changed")
	}
	wantKind(t, s.DeleteRule(ctx, me, Override, RuleMaster), refusal.Unknown)
	wantKind(t, s.DeleteRule(ctx, me, Override, "missing"), refusal.NotFound)
	wantKind(t, s.DeleteRule(ctx, me, Underride, RuleMaster), refusal.NotFound) // wrong kind
	wantKind(t, s.SetEnabled(ctx, me, Override, "missing", true), refusal.NotFound)
	wantKind(t, s.SetActions(ctx, me, Override, "missing", acts()), refusal.NotFound)
	wantKind(t, s.SetActions(ctx, me, Override, RuleMaster, nil), refusal.MissingParam)
	_, err = s.Rule(ctx, me, Content, RuleMaster)
	wantKind(t, err, refusal.NotFound)
	_, err = s.Rule(ctx, me, Kind("nope"), RuleMaster)
	wantKind(t, err, refusal.InvalidParam)

	if err := s.PutRule(ctx, me, Room, room, RuleInput{Actions: acts()}, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRule(ctx, me, Room, room); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.DeleteRule(ctx, me, Room, room), refusal.NotFound)
}

func TestPositionsAndChangeListeners(t *testing.T) {
	s, _ := newTestService()
	ctx := context.Background()
	var got []int64
	s.OnChange(func(userID string, pos int64) {
		if userID == me {
			got = append(got, pos)
		}
	})
	if pos, _ := s.Position(ctx, me); pos != 0 {
		t.Fatalf("initial position %d", pos)
	}
	_ = s.SetEnabled(ctx, me, Override, RuleMaster, true)
	_ = s.SetEnabled(ctx, me, Override, RuleMaster, false)
	pos, _ := s.Position(ctx, me)
	if pos != 2 || len(got) != 2 || got[1] != 2 {
		t.Fatalf("position %d, listener saw %v", pos, got)
	}
	if ok, _ := s.ChangedBetween(ctx, me, 1, 5); !ok {
		t.Fatal("change in (1,5] not seen")
	}
	if ok, _ := s.ChangedBetween(ctx, me, 2, 5); ok {
		t.Fatal("no change in (2,5]")
	}
	// A failed change takes no position and tells nobody.
	_ = s.DeleteRule(ctx, me, Override, "missing")
	if len(got) != 2 {
		t.Fatalf("failed change reported: %v", got)
	}
	ad, _ := s.AccountData(ctx, me)
	if !strings.HasPrefix(string(ad), `{"global":{"override":[{"rule_id":".m.rule.master"`) {
		t.Fatalf("account data: %s", ad)
	}
}

func TestPusherValidation(t *testing.T) {
	s, _ := newTestService()
	ctx := context.Background()
	good := func() PusherInput {
		return PusherInput{
			PushKey: strp("key1"), AppID: strp("com.example.app"), Kind: strp("http"),
			AppDisplayName: strp("App"), DeviceDisplayName: strp("Phone"), Lang: strp("en"),
			Data: json.RawMessage(`{"url":"https://push.example.com/_matrix/push/v1/notify","format":"event_id_only","custom":1}`),
		}
	}
	if err := s.SetPusher(ctx, me, "DEV", good()); err != nil {
		t.Fatal(err)
	}
	ps, _ := s.Pushers(ctx, me)
	if len(ps) != 1 || ps[0].DeviceID != "DEV" || !strings.Contains(string(ps[0].Data), `"custom":1`) {
		t.Fatalf("pushers: %+v", ps)
	}
	// Another user taking the same app_id/pushkey removes ours unless append.
	if err := s.SetPusher(ctx, other, "D2", good()); err != nil {
		t.Fatal(err)
	}
	if ps, _ := s.Pushers(ctx, me); len(ps) != 0 {
		t.Fatalf("pusher not taken over: %+v", ps)
	}
	in := good()
	in.Append = true
	_ = s.SetPusher(ctx, me, "DEV", in)
	if ps, _ := s.Pushers(ctx, other); len(ps) != 1 {
		t.Fatal("append removed the other user's pusher")
	}
	bad := []struct {
		mod  func(p *PusherInput)
		kind refusal.Kind
	}{
		{func(p *PusherInput) { p.PushKey = nil }, refusal.MissingParam},
		{func(p *PusherInput) { p.AppID = strp("") }, refusal.MissingParam},
		{func(p *PusherInput) { p.Lang, p.Data = nil, nil }, refusal.MissingParam},
		{func(p *PusherInput) { p.AppID = strp(strings.Repeat("a", 65)) }, refusal.InvalidParam},
		{func(p *PusherInput) { p.PushKey = strp(strings.Repeat("k", 513)) }, refusal.InvalidParam},
		{func(p *PusherInput) { p.Kind = strp("email") }, refusal.InvalidParam},
		{func(p *PusherInput) { p.Kind = strp("carrier-pigeon") }, refusal.InvalidParam},
		{func(p *PusherInput) { p.Data = json.RawMessage(`{}`) }, refusal.MissingParam},
		{func(p *PusherInput) { p.Data = json.RawMessage(`[]`) }, refusal.BadJSON},
		{func(p *PusherInput) { p.Data = json.RawMessage(`{"url":5}`) }, refusal.BadJSON},
		{func(p *PusherInput) { p.Data = json.RawMessage(`{"url":"not a url"}`) }, refusal.InvalidParam},
		{func(p *PusherInput) {
			p.Data = json.RawMessage(`{"url":"http://push.example.com/_matrix/push/v1/notify"}`)
		}, refusal.InvalidParam},
		{func(p *PusherInput) { p.Data = json.RawMessage(`{"url":"https://push.example.com/notify"}`) }, refusal.InvalidParam},
		{func(p *PusherInput) {
			p.Data = json.RawMessage(`{"url":"https://push.example.com/_matrix/push/v1/notify","format":5}`)
		}, refusal.InvalidParam},
	}
	for i, b := range bad {
		in := good()
		b.mod(&in)
		err := s.SetPusher(ctx, "@carol:example.org", "D", in)
		var pe *refusal.Error
		if !errors.As(err, &pe) || pe.Kind != b.kind {
			t.Errorf("case %d: got %v, want kind %d", i, err, b.kind)
		}
	}
	// The spec requires HTTPS, even for a gateway on loopback.
	in = good()
	in.Data = json.RawMessage(`{"url":"http://127.0.0.1:5000/_matrix/push/v1/notify"}`)
	var pe *refusal.Error
	if err := s.SetPusher(ctx, "@carol:example.org", "D", in); !errors.As(err, &pe) || pe.Kind != refusal.InvalidParam {
		t.Fatalf("http pusher on loopback: %v, want M_INVALID_PARAM", err)
	}
	// kind null deletes; deleting nothing is fine.
	in = good()
	in.Kind = nil
	in.Lang, in.Data, in.AppDisplayName, in.DeviceDisplayName = nil, nil, nil, nil
	if err := s.SetPusher(ctx, other, "D2", in); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPusher(ctx, other, "D2", in); err != nil {
		t.Fatal(err)
	}
	if ps, _ := s.Pushers(ctx, other); len(ps) != 0 || ps == nil {
		t.Fatalf("not deleted (or nil list): %+v", ps)
	}
}

// Concurrent changes to one user's rules are serialised: none is lost.
func TestConcurrentRuleChanges(t *testing.T) {
	s, _ := newTestService()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := string(rune('a' + i))
			if err := s.PutRule(ctx, me, Underride, id, RuleInput{Actions: acts()}, "", ""); err != nil {
				t.Error(err)
			}
			if err := s.SetEnabled(ctx, me, Override, RuleMaster, i%2 == 0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rs := mustRules(t, s)
	if n := len(rs.Underride) - len(DefaultRules(me).Underride); n != 20 {
		t.Fatalf("%d of 20 rules kept: %s", n, ids(rs.Underride))
	}
	if pos, _ := s.Position(ctx, me); pos != 40 {
		t.Fatalf("position %d after 40 changes", pos)
	}
}
