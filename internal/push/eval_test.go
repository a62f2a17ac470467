package push

import (
	"encoding/json"
	"reflect"
	"testing"
)

const (
	me    = "@alice:example.org"
	other = "@bob:example.org"
	room  = "!room:example.org"
)

func msg(body string) Event {
	c, _ := json.Marshal(map[string]any{"msgtype": "m.text", "body": body})
	return Event{Type: "m.room.message", Sender: other, RoomID: room, Content: c}
}

func ev(typ string, stateKey *string, content string) Event {
	return Event{Type: typ, StateKey: stateKey, Sender: other, RoomID: room, Content: json.RawMessage(content)}
}

func group() RoomContext { return RoomContext{MemberCount: 5, DisplayName: "Alice"} }
func dm() RoomContext    { return RoomContext{MemberCount: 2, DisplayName: "Alice"} }

func evalDefaults(t *testing.T, e Event, rc RoomContext) (Match, bool) {
	t.Helper()
	return EvaluateRuleSet(DefaultRules(me), me, e, rc)
}

func TestDefaultRulesEvaluation(t *testing.T) {
	empty := ""
	meKey := me
	otherKey := other
	cases := []struct {
		name              string
		ev                Event
		rc                RoomContext
		rule              string // "" when no rule matches
		notify, highlight bool
		sound             string
	}{
		{"plain message in a 2-person room", msg("hi"), dm(), RuleRoomOneToOne, true, false, "default"},
		{"plain message in a group room", msg("hi"), group(), RuleMessage, true, false, ""},
		{"mention in m.mentions highlights", ev("m.room.message", nil,
			`{"msgtype":"m.text","body":"hey","m.mentions":{"user_ids":["@alice:example.org"]}}`), group(),
			RuleIsUserMention, true, true, "default"},
		{"mention of someone else", ev("m.room.message", nil,
			`{"msgtype":"m.text","body":"hey","m.mentions":{"user_ids":["@carol:example.org"]}}`), group(),
			RuleMessage, true, false, ""},
		{"m.notice is suppressed", ev("m.room.message", nil, `{"msgtype":"m.notice","body":"bot"}`), dm(),
			RuleSuppressNotices, false, false, ""},
		{"member event does not notify", ev("m.room.member", &otherKey, `{"membership":"join"}`), dm(),
			RuleMemberEvent, false, false, ""},
		{"invite for me notifies", ev("m.room.member", &meKey, `{"membership":"invite"}`), dm(),
			RuleInviteForMe, true, false, "default"},
		{"invite for someone else", ev("m.room.member", &otherKey, `{"membership":"invite"}`), group(),
			RuleMemberEvent, false, false, ""},
		{"room mention with power", ev("m.room.message", nil,
			`{"msgtype":"m.text","body":"all","m.mentions":{"room":true}}`),
			RoomContext{MemberCount: 5, SenderPowerLevel: 50}, RuleIsRoomMention, true, true, ""},
		{"room mention without power", ev("m.room.message", nil,
			`{"msgtype":"m.text","body":"all","m.mentions":{"room":true}}`),
			RoomContext{MemberCount: 5, SenderPowerLevel: 10}, RuleMessage, true, false, ""},
		{"room mention, power levels lowered", ev("m.room.message", nil,
			`{"msgtype":"m.text","body":"all","m.mentions":{"room":true}}`),
			RoomContext{MemberCount: 5, NotificationPowerLevels: map[string]int64{"room": 0}}, RuleIsRoomMention, true, true, ""},
		{"room mention given as a string", ev("m.room.message", nil,
			`{"msgtype":"m.text","body":"all","m.mentions":{"room":"true"}}`),
			RoomContext{MemberCount: 5, SenderPowerLevel: 100}, RuleMessage, true, false, ""},
		{"tombstone", ev("m.room.tombstone", &empty, `{"body":"moved","replacement_room":"!new:x"}`), group(),
			RuleTombstone, true, true, ""},
		{"tombstone that is not state", ev("m.room.tombstone", nil, `{"body":"moved"}`), group(), "", false, false, ""},
		{"reaction", ev("m.reaction", nil, `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$x","key":"👍"}}`), dm(),
			RuleReaction, false, false, ""},
		{"server ACL", ev("m.room.server_acl", &empty, `{"allow":["*"]}`), dm(), RuleServerACL, false, false, ""},
		{"edit", ev("m.room.message", nil,
			`{"msgtype":"m.text","body":"* fixed","m.new_content":{"body":"fixed"},"m.relates_to":{"rel_type":"m.replace","event_id":"$x"}}`),
			dm(), RuleSuppressEdits, false, false, ""},
		{"call invite rings", ev("m.call.invite", nil, `{"call_id":"1"}`), group(), RuleCall, true, false, "ring"},
		{"encrypted in a 2-person room", ev("m.room.encrypted", nil, `{"algorithm":"m.megolm.v1.aes-sha2"}`), dm(),
			RuleEncryptedRoomOneToOne, true, false, "default"},
		{"encrypted in a group room", ev("m.room.encrypted", nil, `{"algorithm":"m.megolm.v1.aes-sha2"}`), group(),
			RuleEncrypted, true, false, ""},
		{"other event types match nothing", ev("m.room.topic", &empty, `{"topic":"x"}`), dm(), "", false, false, ""},
		{"body mention alone no longer highlights (v1.17)", msg("alice: Alice look"), group(), RuleMessage, true, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, ok := evalDefaults(t, c.ev, c.rc)
			if c.rule == "" {
				if ok {
					t.Fatalf("want no match, got %s", m.RuleID)
				}
				return
			}
			if !ok || m.RuleID != c.rule {
				t.Fatalf("want rule %s, got %q (ok=%v)", c.rule, m.RuleID, ok)
			}
			if m.Notify != c.notify || m.Highlight != c.highlight || m.Sound != c.sound {
				t.Fatalf("got notify=%v highlight=%v sound=%q, want %v %v %q", m.Notify, m.Highlight, m.Sound, c.notify, c.highlight, c.sound)
			}
		})
	}
}

func TestOwnEventsNeverMatch(t *testing.T) {
	e := msg("hi")
	e.Sender = me
	if _, ok := evalDefaults(t, e, dm()); ok {
		t.Fatal("the user's own event matched")
	}
}

func TestDisabledAndChangedRules(t *testing.T) {
	rs := DefaultRules(me)
	// Disabling .m.rule.message: group messages no longer notify.
	for i := range rs.Underride {
		if rs.Underride[i].RuleID == RuleMessage {
			rs.Underride[i].Enabled = false
		}
	}
	if m, ok := EvaluateRuleSet(rs, me, msg("hi"), group()); ok {
		t.Fatalf("disabled rule matched: %s", m.RuleID)
	}
	// 1:1 is a different rule and still notifies.
	if m, ok := EvaluateRuleSet(rs, me, msg("hi"), dm()); !ok || !m.Notify {
		t.Fatalf("1:1 message: %+v %v", m, ok)
	}
	// Enabling the master rule silences everything.
	rs.Override[0].Enabled = true
	m, ok := EvaluateRuleSet(rs, me, ev("m.room.member", strp(me), `{"membership":"invite"}`), dm())
	if !ok || m.RuleID != RuleMaster || m.Notify {
		t.Fatalf("master: %+v %v", m, ok)
	}
}

func TestUserRoomOverrideDontNotify(t *testing.T) {
	rs := merge(me, userDoc{Rules: map[Kind][]Rule{
		Override: {{RuleID: "mute-room", Enabled: true, Conditions: []Condition{eventMatch("room_id", room)},
			Actions: mustActions(t, `"dont_notify"`)}},
	}})
	if len(rs.Override) < 2 || rs.Override[0].RuleID != RuleMaster || rs.Override[1].RuleID != "mute-room" {
		t.Fatalf("user override not placed after master: %+v", rs.Override)
	}
	m, ok := EvaluateRuleSet(rs, me, msg("hi"), dm())
	if !ok || m.RuleID != "mute-room" || m.Notify {
		t.Fatalf("muted room: %+v %v", m, ok)
	}
	// Other rooms are unaffected.
	e := msg("hi")
	e.RoomID = "!elsewhere:example.org"
	if m, ok := EvaluateRuleSet(rs, me, e, dm()); !ok || m.RuleID != RuleRoomOneToOne || !m.Notify {
		t.Fatalf("other room: %+v %v", m, ok)
	}
	// A room rule with no actions mutes too, but loses to overrides such
	// as the user mention rule.
	rs = merge(me, userDoc{Rules: map[Kind][]Rule{Room: {{RuleID: room, Enabled: true, Actions: []json.RawMessage{}}}}})
	if m, ok := EvaluateRuleSet(rs, me, msg("hi"), group()); !ok || m.Kind != Room || m.Notify {
		t.Fatalf("room rule: %+v %v", m, ok)
	}
	mention := ev("m.room.message", nil, `{"body":"x","m.mentions":{"user_ids":["@alice:example.org"]}}`)
	if m, ok := EvaluateRuleSet(rs, me, mention, group()); !ok || m.RuleID != RuleIsUserMention || !m.Highlight {
		t.Fatalf("mention in muted room: %+v %v", m, ok)
	}
}

func mustActions(t *testing.T, items ...string) []json.RawMessage {
	t.Helper()
	a, err := ValidateActions(acts(items...))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSenderAndContentRules(t *testing.T) {
	rs := merge(me, userDoc{Rules: map[Kind][]Rule{
		Sender:  {{RuleID: other, Enabled: true, Actions: []json.RawMessage{}}},
		Content: {{RuleID: "cake", Enabled: true, Pattern: strp("cake*lie"), Actions: acts(actNotify, actHighlight)}},
	}})
	// Content rules come before sender rules.
	m, ok := EvaluateRuleSet(rs, me, msg("the CAKE is a lie!"), group())
	if !ok || m.RuleID != "cake" || !m.Highlight {
		t.Fatalf("content rule: %+v %v", m, ok)
	}
	m, ok = EvaluateRuleSet(rs, me, msg("cakes are lies"), group())
	if !ok || m.Kind != Sender || m.Notify {
		t.Fatalf("sender rule: %+v %v", m, ok)
	}
}

func TestRoomMemberCountOperators(t *testing.T) {
	cases := []struct {
		is    string
		count int
		want  bool
	}{
		{"2", 2, true}, {"2", 3, false}, {"==2", 2, true}, {"==2", 1, false},
		{"<3", 2, true}, {"<3", 3, false}, {">3", 4, true}, {">3", 3, false},
		{"<=3", 3, true}, {"<=3", 4, false}, {">=3", 3, true}, {">=3", 2, false},
		{"0", 0, true},
		// Malformed never matches.
		{"=2", 2, false}, {"2.0", 2, false}, {"", 0, false}, {"> 2", 3, false}, {"-1", 0, false}, {"abc", 0, false},
	}
	for _, c := range cases {
		cond := memberCount(c.is)
		e := newEvalEvent(msg("x"))
		if got := e.conditionMatches(cond, RoomContext{MemberCount: c.count}); got != c.want {
			t.Errorf("is %q with %d members: got %v, want %v", c.is, c.count, got, c.want)
		}
	}
}

func TestGlobMatching(t *testing.T) {
	cases := []struct {
		pattern, value string
		word, want     bool
	}{
		// Whole-value matching (spec's content.topic examples).
		{"lunc?*", "Lunch plans", false, true},
		{"lunc?*", "LUNCH", false, true},
		{"lunc?*", " lunch", false, false},
		{"lunc?*", "lunc", false, false},
		{"m.notice", "m.notice", false, true},
		{"m.notice", "m_notice", false, false}, // "." is literal
		{"m.notice", "m.notices", false, false},
		{"*", "", false, true},
		{"", "", false, true},
		{"", "x", false, false},
		{"a*b*c", "aXXbYYc", false, true},
		{"a*b*c", "aXXbYY", false, false},
		{"?", "é", false, true}, // one character, not one byte
		{"??", "é", false, false},
		{"[ab]", "[ab]", false, true}, // no character classes
		{"[ab]", "a", false, false},
		{"a+b", "a+b", false, true},
		{"a+b", "aab", false, false},
		{"ÉCOLE", "école", false, true},
		{"multi*line", "multi\nline", false, true},
		// content.body: substrings at word boundaries (spec examples).
		{"ex*ple", "An example event.", true, true},
		{"ex*ple", "exple", true, true},
		{"ex*ple", "An exciting triple-whammy", true, true},
		{"cake", "I like cake", true, true},
		{"cake", "I like cakes", true, false},
		{"cake", "pancake", true, false},
		{"cake", "cake_shop", true, false}, // "_" is a word character
		{"cake", "cake-shop", true, true},
		{"cake", "(CAKE)", true, true},
		{"@room", "hello @room!", true, true},
		{"@room", "@roomy", true, false},
		{"alice", "hey alice: look", true, true},
		{"alice", "malice", true, false},
	}
	for _, c := range cases {
		if got := globMatches(c.pattern, c.value, c.word); got != c.want {
			t.Errorf("glob %q on %q (word=%v): got %v, want %v", c.pattern, c.value, c.word, got, c.want)
		}
	}
}

func TestSplitPath(t *testing.T) {
	cases := map[string][]string{
		"content.body":                   {"content", "body"},
		`content.m\.relates_to.rel_type`: {"content", "m.relates_to", "rel_type"},
		`content.m\\foo`:                 {"content", `m\foo`},
		`content.m\xfoo`:                 {"content", `m\xfoo`},
		`content.a\\.b`:                  {"content", `a\`, "b"},
		"type":                           {"type"},
		`trailing\`:                      {`trailing\`},
	}
	for in, want := range cases {
		if got := SplitPath(in); !reflect.DeepEqual(got, want) {
			t.Errorf("SplitPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPropertyConditions(t *testing.T) {
	e := newEvalEvent(ev("m.room.create", strp(""),
		`{"m.federate":true,"n":42,"big":9007199254740992,"f":1.5,"nul":null,"s":"true","arr":["#a:x",5,true,null,{"o":1}],"obj":{"k":"v"}}`))
	cases := []struct {
		cond Condition
		want bool
	}{
		{propertyIs(`content.m\.federate`, true), true},
		{propertyIs(`content.m\.federate`, "true"), false},
		{propertyIs(`content.m\.federate`, 1), false},
		{propertyIs("content.n", 42), true},
		{propertyIs("content.n", "42"), false},
		{propertyIs("content.nul", nil), true},
		{propertyIs("content.missing", nil), false},
		{propertyIs("content.s", "true"), true},
		{propertyIs("content.f", 1.5), false},    // not canonical
		{propertyIs("content.obj", "v"), false},  // compound
		{propertyIs("content.obj.k", "v"), true}, // nested
		{propertyIs("content.big", 9007199254740992), false},
		{propertyIs("state_key", ""), true},
		{propertyIs("type", "m.room.create"), true},
		{propertyContains("content.arr", "#a:x"), true},
		{propertyContains("content.arr", ":x"), false},
		{propertyContains("content.arr", 5), true},
		{propertyContains("content.arr", true), true},
		{propertyContains("content.arr", nil), true},
		{propertyContains("content.s", "true"), false}, // not an array
		{propertyContains("content.missing", "x"), false},
		{eventMatch("content.n", "*"), false}, // not a string
		{eventMatch("content.missing", "*"), false},
		{eventMatch("content.s", "TRUE"), true},
		{Condition{Kind: "something_new", Key: strp("type")}, false},
		{Condition{Kind: CondEventMatch, Key: strp("type")}, false}, // no pattern
	}
	for i, c := range cases {
		if got := e.conditionMatches(c.cond, RoomContext{}); got != c.want {
			b, _ := json.Marshal(c.cond)
			t.Errorf("%d: %s: got %v, want %v", i, b, got, c.want)
		}
	}
}

func TestContainsDisplayNameAndSenderPermission(t *testing.T) {
	dn := Condition{Kind: CondContainsDisplayName}
	cases := []struct {
		body, name string
		want       bool
	}{
		{"hi Alice!", "Alice", true},
		{"hi alice", "Alice", true},
		{"Alicea", "Alice", false},
		{"hi A.lice", "A.lice", true},
		{"hi AXlice", "A.lice", false}, // the name is literal
		{"hi A*e", "A*e", true},
		{"hi Ale", "A*e", false},
		{"anything", "", false},
	}
	for _, c := range cases {
		e := newEvalEvent(msg(c.body))
		if got := e.conditionMatches(dn, RoomContext{DisplayName: c.name}); got != c.want {
			t.Errorf("display name %q in %q: got %v, want %v", c.name, c.body, got, c.want)
		}
	}
	perm := senderPermission("room")
	e := newEvalEvent(msg("x"))
	for _, c := range []struct {
		pl     int64
		levels map[string]int64
		want   bool
	}{
		{50, nil, true}, {49, nil, false}, {0, map[string]int64{"room": 0}, true}, {99, map[string]int64{"room": 100}, false},
	} {
		if got := e.conditionMatches(perm, RoomContext{SenderPowerLevel: c.pl, NotificationPowerLevels: c.levels}); got != c.want {
			t.Errorf("sender level %d with %v: got %v", c.pl, c.levels, got)
		}
	}
}

func TestActionsInterpretation(t *testing.T) {
	r := Rule{RuleID: "x", Actions: acts(`"notify"`, `{"set_tweak":"highlight","value":false}`, `{"set_tweak":"sound","value":"bing"}`, `{"set_tweak":"custom","value":[1]}`)}
	m := interpretActions(Override, r)
	if !m.Notify || m.Highlight || m.Sound != "bing" || string(m.Tweaks["custom"]) != "[1]" {
		t.Fatalf("%+v", m)
	}
	m = interpretActions(Override, Rule{Actions: acts(`"dont_notify"`, `"coalesce"`, `{"set_tweak":"highlight"}`)})
	if m.Notify || !m.Highlight {
		t.Fatalf("%+v", m)
	}
}
