package push

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Event is what the evaluator needs of an event. Dotted keys resolve
// against {type, state_key, sender, room_id, event_id, content}.
type Event struct {
	Type string
	// StateKey is nil for a non-state event.
	StateKey *string
	Sender   string
	RoomID   string
	EventID  string
	// Content is the event content, a JSON object.
	Content json.RawMessage
}

// RoomContext is what the evaluator needs of the room at the event.
type RoomContext struct {
	// MemberCount is the number of joined members.
	MemberCount int
	// DisplayName is the evaluated user's display name in the room.
	DisplayName string
	// SenderPowerLevel is the sender's power level in the room.
	SenderPowerLevel int64
	// NotificationPowerLevels is the "notifications" object of the room's
	// power levels (e.g. {"room": 50}); a missing key requires 50.
	NotificationPowerLevels map[string]int64
}

// Match is the rule that decided an event for a user and what its actions
// mean.
type Match struct {
	Kind    Kind
	RuleID  string
	Actions []json.RawMessage
	// Notify is set by a "notify" action.
	Notify bool
	// Highlight is the highlight tweak (true when given without a value).
	Highlight bool
	// Sound is the sound tweak, "" when not set.
	Sound string
	// Tweaks are every set_tweak action's value, by tweak name.
	Tweaks map[string]json.RawMessage
}

// defaultNotificationLevel is the power level a notification type needs
// when the power levels do not say (spec: m.room.power_levels).
const defaultNotificationLevel = 50

// EvaluateRuleSet runs rs for userID over ev and returns the first
// enabled rule that matches, or false when none does (no notification).
// Events the user sent themselves never match.
func EvaluateRuleSet(rs RuleSet, userID string, ev Event, rc RoomContext) (Match, bool) {
	if ev.Sender == userID {
		return Match{}, false
	}
	return evaluatePrepared(rs, newEvalEvent(ev), rc)
}

func interpretActions(k Kind, r Rule) Match {
	m := Match{Kind: k, RuleID: r.RuleID, Actions: r.Actions}
	for _, a := range r.Actions {
		var s string
		if json.Unmarshal(a, &s) == nil {
			// dont_notify and coalesce are historical: ignored.
			if s == "notify" {
				m.Notify = true
			}
			continue
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(a, &obj) != nil {
			continue
		}
		var tweak string
		if json.Unmarshal(obj["set_tweak"], &tweak) != nil || tweak == "" {
			continue
		}
		value, has := obj["value"]
		if m.Tweaks == nil {
			m.Tweaks = map[string]json.RawMessage{}
		}
		switch tweak {
		case "highlight":
			// No value means true; otherwise only JSON true highlights.
			m.Highlight = !has || bytes.Equal(bytes.TrimSpace(value), []byte("true"))
			if !has {
				value = json.RawMessage("true")
			}
		case "sound":
			var snd string
			if json.Unmarshal(value, &snd) == nil {
				m.Sound = snd
			}
		}
		if value != nil {
			m.Tweaks[tweak] = value
		}
	}
	return m
}

// evalEvent is an event decoded once for evaluation.
type evalEvent struct {
	ev   Event
	root map[string]any
}

func newEvalEvent(ev Event) *evalEvent {
	root := map[string]any{
		"type":    ev.Type,
		"sender":  ev.Sender,
		"room_id": ev.RoomID,
	}
	if ev.EventID != "" {
		root["event_id"] = ev.EventID
	}
	if ev.StateKey != nil {
		root["state_key"] = *ev.StateKey
	}
	if len(ev.Content) > 0 {
		dec := json.NewDecoder(bytes.NewReader(ev.Content))
		dec.UseNumber()
		var content any
		if dec.Decode(&content) == nil {
			root["content"] = content
		}
	}
	return &evalEvent{ev: ev, root: root}
}

func (e *evalEvent) ruleMatches(k Kind, r Rule, rc RoomContext) bool {
	switch k {
	case Override, Underride:
		for _, c := range r.Conditions {
			if !e.conditionMatches(c, rc) {
				return false
			}
		}
		return true
	case Content:
		if r.Pattern == nil {
			return false
		}
		body, ok := e.lookup([]string{"content", "body"}).(string)
		return ok && globMatches(*r.Pattern, body, true)
	case Room:
		return r.RuleID == e.ev.RoomID
	case Sender:
		return r.RuleID == e.ev.Sender
	}
	return false
}

func (e *evalEvent) conditionMatches(c Condition, rc RoomContext) bool {
	switch c.Kind {
	case CondEventMatch:
		if c.Key == nil || c.Pattern == nil {
			return false
		}
		v, ok := e.lookup(SplitPath(*c.Key)).(string)
		if !ok {
			return false
		}
		return globMatches(*c.Pattern, v, *c.Key == "content.body")
	case CondEventPropertyIs:
		if c.Key == nil || c.Value == nil {
			return false
		}
		want, ok := decodeScalar(c.Value)
		if !ok {
			return false
		}
		got, found := e.lookupFound(SplitPath(*c.Key))
		return found && scalarEqual(got, want)
	case CondEventPropertyContains:
		if c.Key == nil || c.Value == nil {
			return false
		}
		want, ok := decodeScalar(c.Value)
		if !ok {
			return false
		}
		arr, ok := e.lookup(SplitPath(*c.Key)).([]any)
		if !ok {
			return false
		}
		for _, item := range arr {
			if scalarEqual(item, want) {
				return true
			}
		}
		return false
	case CondContainsDisplayName:
		if rc.DisplayName == "" {
			return false
		}
		body, ok := e.lookup([]string{"content", "body"}).(string)
		return ok && literalWordMatches(rc.DisplayName, body)
	case CondRoomMemberCount:
		if c.Is == nil {
			return false
		}
		op, n, ok := parseMemberCount(*c.Is)
		if !ok {
			return false
		}
		return compareCount(op, int64(rc.MemberCount), n)
	case CondSenderNotificationPerm:
		if c.Key == nil {
			return false
		}
		need := int64(defaultNotificationLevel)
		if lvl, ok := rc.NotificationPowerLevels[*c.Key]; ok {
			need = lvl
		}
		return rc.SenderPowerLevel >= need
	}
	// Unrecognised conditions never match.
	return false
}

// lookup returns the value at path, or nil when absent.
func (e *evalEvent) lookup(path []string) any {
	v, _ := e.lookupFound(path)
	return v
}

func (e *evalEvent) lookupFound(path []string) (any, bool) {
	var cur any = e.root
	for _, seg := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[seg]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// SplitPath splits a dot-separated property path (spec appendix
// "Dot-separated property paths"): "\." is a literal dot and "\\" a
// literal backslash; any other backslash is kept as it is.
func SplitPath(key string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '\\' && i+1 < len(key) && (key[i+1] == '.' || key[i+1] == '\\'):
			cur.WriteByte(key[i+1])
			i++
		case c == '.':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, cur.String())
}

// maxSafeInteger bounds canonical JSON integers: [-(2**53)+1, (2**53)-1].
const maxSafeInteger = 1<<53 - 1

// decodeScalar decodes a condition value; only the non-compound canonical
// JSON values (string, integer in range, boolean, null) are usable.
func decodeScalar(raw json.RawMessage) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	return v, isCanonicalScalar(v)
}

func isCanonicalScalar(v any) bool {
	switch x := v.(type) {
	case nil, string, bool:
		return true
	case json.Number:
		_, ok := canonicalInt(x)
		return ok
	}
	return false
}

func canonicalInt(n json.Number) (int64, bool) {
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || i > maxSafeInteger || i < -maxSafeInteger {
		return 0, false
	}
	return i, true
}

// scalarEqual compares an event value with a condition value exactly, with
// no type conversion; compound and non-canonical values never match.
func scalarEqual(got, want any) bool {
	if !isCanonicalScalar(got) || !isCanonicalScalar(want) {
		return false
	}
	switch w := want.(type) {
	case nil:
		return got == nil
	case string:
		g, ok := got.(string)
		return ok && g == w
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return false
		}
		gi, _ := canonicalInt(g)
		wi, _ := canonicalInt(w)
		return gi == wi
	}
	return false
}

// memberCountRE is room_member_count's "is": an optional operator and a
// decimal integer.
var memberCountRE = regexp.MustCompile(`^(==|<=|>=|<|>)?([0-9]+)$`)

func parseMemberCount(is string) (op string, n int64, ok bool) {
	m := memberCountRE.FindStringSubmatch(is)
	if m == nil {
		return "", 0, false
	}
	n, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return "", 0, false
	}
	op = m[1]
	if op == "" {
		op = "=="
	}
	return op, n, true
}

func compareCount(op string, count, n int64) bool {
	switch op {
	case "==":
		return count == n
	case "<":
		return count < n
	case ">":
		return count > n
	case "<=":
		return count <= n
	case ">=":
		return count >= n
	}
	return false
}

// Glob matching (spec appendix "Glob-style matching"): "*" matches zero or
// more characters and "?" exactly one; matching is case-insensitive
// (Unicode simple case folding). A whole-value match is anchored; a word
// match (content.body) matches any substring that starts and ends at a
// word boundary: the start or end of the value or a character outside
// [A-Za-z0-9_] — which is exactly RE2's ASCII \b and \W.

type globKey struct {
	pattern string
	word    bool
	literal bool // no wildcards: "*" and "?" match themselves
}

var (
	globCacheMu sync.Mutex
	globCache   = map[globKey]*regexp.Regexp{}
)

// maxGlobCache bounds the compiled-pattern cache; it is emptied when full.
const maxGlobCache = 4096

func globRegexp(pattern string, word, literal bool) *regexp.Regexp {
	key := globKey{pattern, word, literal}
	globCacheMu.Lock()
	re, ok := globCache[key]
	globCacheMu.Unlock()
	if ok {
		return re
	}
	var b strings.Builder
	b.WriteString(`(?is)`)
	if word {
		b.WriteString(`(?:^|\b|\W)`)
	} else {
		b.WriteString(`^`)
	}
	for _, r := range pattern {
		switch {
		case literal:
			b.WriteString(regexp.QuoteMeta(string(r)))
		case r == '*':
			b.WriteString(`.*?`)
		case r == '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	if word {
		b.WriteString(`(?:\b|\W|$)`)
	} else {
		b.WriteString(`$`)
	}
	re = regexp.MustCompile(b.String())
	globCacheMu.Lock()
	if len(globCache) >= maxGlobCache {
		clear(globCache)
	}
	globCache[key] = re
	globCacheMu.Unlock()
	return re
}

// globMatches matches value against a glob pattern, as a whole value or,
// when word is set, as a substring at word boundaries.
func globMatches(pattern, value string, word bool) bool {
	return globRegexp(pattern, word, false).MatchString(value)
}

// literalWordMatches finds s, taken literally, in value at word
// boundaries, case-insensitively: the contains_display_name test.
func literalWordMatches(s, value string) bool {
	return globRegexp(s, true, true).MatchString(value)
}
