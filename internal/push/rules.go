// Package push is Foyer's push notification logic: the push rules a user
// reads and edits (the server-default rule set of spec v1.19 merged with
// the user's own rules and changes), the evaluator that decides whether an
// event notifies or highlights for a user, and pushers. It holds no SQL;
// internal/storage implements Store.
package push

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Kind is a push rule kind. Rules are checked kind by kind in the order of
// Kinds, and within a kind in list order.
type Kind string

const (
	Override  Kind = "override"
	Content   Kind = "content"
	Room      Kind = "room"
	Sender    Kind = "sender"
	Underride Kind = "underride"
)

// Kinds are the rule kinds in the order they are checked.
var Kinds = []Kind{Override, Content, Room, Sender, Underride}

// ParseKind checks a kind from a request path.
func ParseKind(s string) (Kind, bool) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, true
		}
	}
	return "", false
}

// Condition kinds the evaluator implements. Any other kind never matches.
const (
	CondEventMatch             = "event_match"
	CondEventPropertyIs        = "event_property_is"
	CondEventPropertyContains  = "event_property_contains"
	CondContainsDisplayName    = "contains_display_name"
	CondRoomMemberCount        = "room_member_count"
	CondSenderNotificationPerm = "sender_notification_permission"
)

// Condition is one condition of an override or underride rule. Parameters
// of condition kinds this server does not know are kept in Extra so the
// rule reads back as it was written.
type Condition struct {
	Kind    string
	Key     *string
	Pattern *string
	Is      *string
	// Value is the raw JSON of "value" (event_property_is/contains); nil
	// when absent, "null" when given as null.
	Value json.RawMessage
	Extra map[string]json.RawMessage
}

// MarshalJSON writes the condition with its known and extra fields.
func (c Condition) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, 5+len(c.Extra))
	for k, v := range c.Extra {
		m[k] = v
	}
	m["kind"] = c.Kind
	if c.Key != nil {
		m["key"] = *c.Key
	}
	if c.Pattern != nil {
		m["pattern"] = *c.Pattern
	}
	if c.Is != nil {
		m["is"] = *c.Is
	}
	if c.Value != nil {
		m["value"] = c.Value
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads a condition object. The known parameters must have
// their spec types; the kind must be a string.
func (c *Condition) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return fmt.Errorf("a condition must be a JSON object")
	}
	*c = Condition{}
	str := func(name string) (*string, error) {
		raw, ok := m[name]
		if !ok {
			return nil, nil
		}
		delete(m, name)
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, fmt.Errorf("condition field %q must be a string", name)
		}
		return &s, nil
	}
	kind, err := str("kind")
	if err != nil {
		return err
	}
	if kind == nil {
		return fmt.Errorf("a condition must have a kind")
	}
	c.Kind = *kind
	if c.Key, err = str("key"); err != nil {
		return err
	}
	if c.Pattern, err = str("pattern"); err != nil {
		return err
	}
	if c.Is, err = str("is"); err != nil {
		return err
	}
	if raw, ok := m["value"]; ok {
		delete(m, "value")
		c.Value = compactJSON(raw)
	}
	if len(m) > 0 {
		c.Extra = make(map[string]json.RawMessage, len(m))
		for k, v := range m {
			c.Extra[k] = compactJSON(v)
		}
	}
	return nil
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return buf.Bytes()
}

// Rule is a push rule as the API and m.push_rules show it. Conditions is
// present (possibly empty) on override and underride rules only; Pattern
// on content rules only.
type Rule struct {
	RuleID     string            `json:"rule_id"`
	Default    bool              `json:"default"`
	Enabled    bool              `json:"enabled"`
	Conditions []Condition       `json:"conditions,omitzero"`
	Pattern    *string           `json:"pattern,omitempty"`
	Actions    []json.RawMessage `json:"actions"`
}

// RuleSet is the global ruleset: every kind, most important rule first.
// The slices are never nil, so each kind serialises as a list.
type RuleSet struct {
	Override  []Rule `json:"override"`
	Content   []Rule `json:"content"`
	Room      []Rule `json:"room"`
	Sender    []Rule `json:"sender"`
	Underride []Rule `json:"underride"`
}

// Kind returns the rules of kind k.
func (rs RuleSet) Kind(k Kind) []Rule {
	switch k {
	case Override:
		return rs.Override
	case Content:
		return rs.Content
	case Room:
		return rs.Room
	case Sender:
		return rs.Sender
	case Underride:
		return rs.Underride
	}
	return nil
}

func (rs *RuleSet) set(k Kind, rules []Rule) {
	if rules == nil {
		rules = []Rule{}
	}
	switch k {
	case Override:
		rs.Override = rules
	case Content:
		rs.Content = rules
	case Room:
		rs.Room = rules
	case Sender:
		rs.Sender = rules
	case Underride:
		rs.Underride = rules
	}
}

// Find returns the rule of kind k with the given ID.
func (rs RuleSet) Find(k Kind, ruleID string) (Rule, bool) {
	for _, r := range rs.Kind(k) {
		if r.RuleID == ruleID {
			return r, true
		}
	}
	return Rule{}, false
}

// AccountDataContent is the content of the m.push_rules account data
// event: {"global": ruleset}.
func (rs RuleSet) AccountDataContent() json.RawMessage {
	b, err := json.Marshal(map[string]RuleSet{"global": rs})
	if err != nil {
		// Every field marshals; this cannot happen.
		panic(err)
	}
	return b
}

// userDoc is what is stored per user: the user's own rules, most important
// first, and their changes to server-default rules.
type userDoc struct {
	Rules map[Kind][]Rule `json:"rules,omitempty"`
	// Defaults are changes to server-default rules, keyed "kind/rule_id".
	Defaults map[string]defaultChange `json:"defaults,omitempty"`
}

// defaultChange is a user's change to one server-default rule.
type defaultChange struct {
	Enabled *bool `json:"enabled,omitempty"`
	// Actions replaces the rule's actions when non-nil.
	Actions []json.RawMessage `json:"actions,omitzero"`
}

func defaultKey(k Kind, ruleID string) string { return string(k) + "/" + ruleID }

func decodeDoc(b []byte) (userDoc, error) {
	var d userDoc
	if len(b) == 0 {
		return d, nil
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("decoding stored push rules: %w", err)
	}
	return d, nil
}

func (d userDoc) encode() ([]byte, error) {
	// Drop empty entries so the stored form stays small.
	for k, rules := range d.Rules {
		if len(rules) == 0 {
			delete(d.Rules, k)
		}
	}
	keys := make([]string, 0, len(d.Defaults))
	for k, c := range d.Defaults {
		if c.Enabled == nil && c.Actions == nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		delete(d.Defaults, k)
	}
	return json.Marshal(d)
}

// clone copies d deeply enough that edits to its maps and slices do not
// touch the original (rules themselves are replaced, not edited in place).
func (d userDoc) clone() userDoc {
	out := userDoc{Rules: map[Kind][]Rule{}, Defaults: map[string]defaultChange{}}
	for k, rules := range d.Rules {
		out.Rules[k] = append([]Rule(nil), rules...)
	}
	for k, c := range d.Defaults {
		out.Defaults[k] = c
	}
	return out
}

// merge builds the user's full ruleset: .m.rule.master first, then the
// user's override rules, then the other server-default override rules;
// for the other kinds the user's rules come before the server defaults.
func merge(userID string, d userDoc) RuleSet {
	defs := DefaultRules(userID)
	for _, k := range Kinds {
		rules := defs.Kind(k)
		for i := range rules {
			c, ok := d.Defaults[defaultKey(k, rules[i].RuleID)]
			if !ok {
				continue
			}
			if c.Enabled != nil {
				rules[i].Enabled = *c.Enabled
			}
			if c.Actions != nil {
				rules[i].Actions = c.Actions
			}
		}
	}
	var out RuleSet
	for _, k := range Kinds {
		defaults := defs.Kind(k)
		user := d.Rules[k]
		merged := make([]Rule, 0, len(defaults)+len(user))
		if k == Override && len(defaults) > 0 && defaults[0].RuleID == RuleMaster {
			merged = append(merged, defaults[0])
			defaults = defaults[1:]
		}
		merged = append(merged, user...)
		merged = append(merged, defaults...)
		out.set(k, merged)
	}
	return out
}
