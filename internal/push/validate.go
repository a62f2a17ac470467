package push

import (
	"encoding/json"
	"strings"

	"foyer/internal/refusal"
)

// RuleInput is the body of PUT /pushrules/global/{kind}/{ruleId}. Nil
// Actions means "actions" was absent (or null); Conditions and Pattern
// are used only by the kinds they apply to.
type RuleInput struct {
	Actions    []json.RawMessage
	Conditions []json.RawMessage
	Pattern    *string
}

// validateRuleID applies the spec's rules for a user-defined rule ID: not
// starting with a dot (reserved for server-default rules), no slashes or
// backslashes; room and sender rule IDs name a room and a user.
func validateRuleID(k Kind, ruleID string) error {
	switch {
	case ruleID == "":
		return refusal.New(refusal.Unknown, "a push rule ID must not be empty")
	case IsServerDefaultID(ruleID):
		return refusal.New(refusal.Unknown, "cannot add or replace push rule %q: rule IDs starting with '.' are reserved for server-default rules", ruleID)
	case strings.ContainsAny(ruleID, `/\`):
		return refusal.New(refusal.Unknown, "push rule IDs must not contain '/' or '\\'")
	case k == Room && !strings.HasPrefix(ruleID, "!"):
		return refusal.New(refusal.InvalidParam, "the rule ID of a room rule must be a room ID, not %q", ruleID)
	case k == Sender && !strings.HasPrefix(ruleID, "@"):
		return refusal.New(refusal.InvalidParam, "the rule ID of a sender rule must be a user ID, not %q", ruleID)
	}
	return nil
}

// ValidateActions checks an actions list. Known actions are "notify",
// {"set_tweak": name, ...} and the historical dont_notify and coalesce
// (kept; the spec says to ignore them when evaluating); anything else is
// refused, as are highlight and sound tweaks whose value has the wrong
// type.
func ValidateActions(actions []json.RawMessage) ([]json.RawMessage, error) {
	if actions == nil {
		return nil, refusal.New(refusal.MissingParam, "actions is required")
	}
	out := make([]json.RawMessage, 0, len(actions))
	for _, a := range actions {
		var s string
		if json.Unmarshal(a, &s) == nil {
			switch s {
			case "notify":
				out = append(out, json.RawMessage(`"notify"`))
			case "dont_notify", "coalesce":
				// Historical: kept as sent (clients read back what they
				// wrote, as on Synapse), and ignored when rules are run.
				out = append(out, json.RawMessage(`"`+s+`"`))
			default:
				return nil, refusal.New(refusal.InvalidParam, "unknown push rule action %q", s)
			}
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(a, &obj); err != nil || obj == nil {
			return nil, refusal.New(refusal.BadJSON, "each action must be a string or an object")
		}
		rawTweak, ok := obj["set_tweak"]
		if !ok {
			return nil, refusal.New(refusal.InvalidParam, "unknown push rule action %s", compactJSON(a))
		}
		var tweak string
		if err := json.Unmarshal(rawTweak, &tweak); err != nil || tweak == "" {
			return nil, refusal.New(refusal.InvalidParam, "set_tweak must name a tweak")
		}
		if value, has := obj["value"]; has {
			var v any
			_ = json.Unmarshal(value, &v)
			switch tweak {
			case "highlight":
				if _, ok := v.(bool); !ok {
					return nil, refusal.New(refusal.InvalidParam, "the highlight tweak's value must be a boolean")
				}
			case "sound":
				if _, ok := v.(string); !ok {
					return nil, refusal.New(refusal.InvalidParam, "the sound tweak's value must be a string")
				}
			}
		}
		out = append(out, compactJSON(a))
	}
	return out, nil
}

// validateConditions parses and checks the conditions of an override or
// underride rule. Unknown condition kinds are kept (they never match, as
// the spec requires); known kinds must have their parameters.
func validateConditions(raw []json.RawMessage) ([]Condition, error) {
	out := make([]Condition, 0, len(raw))
	for _, r := range raw {
		var c Condition
		if err := json.Unmarshal(r, &c); err != nil {
			return nil, refusal.New(refusal.BadJSON, "%v", err)
		}
		if err := checkCondition(c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func checkCondition(c Condition) error {
	need := func(what string, ok bool) error {
		if !ok {
			return refusal.New(refusal.InvalidParam, "%s conditions need %s", c.Kind, what)
		}
		return nil
	}
	switch c.Kind {
	case CondEventMatch:
		if err := need("a key", c.Key != nil && *c.Key != ""); err != nil {
			return err
		}
		return need("a pattern", c.Pattern != nil)
	case CondEventPropertyIs, CondEventPropertyContains:
		if err := need("a key", c.Key != nil && *c.Key != ""); err != nil {
			return err
		}
		if err := need("a value", c.Value != nil); err != nil {
			return err
		}
		if _, ok := decodeScalar(c.Value); !ok {
			return refusal.New(refusal.InvalidParam, "%s values must be a string, an integer within ±(2^53-1), a boolean or null", c.Kind)
		}
	case CondRoomMemberCount:
		if err := need(`"is"`, c.Is != nil); err != nil {
			return err
		}
		if _, _, ok := parseMemberCount(*c.Is); !ok {
			return refusal.New(refusal.InvalidParam, `room_member_count "is" must be a decimal integer optionally prefixed by ==, <, >, <= or >=, not %q`, *c.Is)
		}
	case CondSenderNotificationPerm:
		return need("a key", c.Key != nil && *c.Key != "")
	case "":
		return refusal.New(refusal.InvalidParam, "a condition's kind must not be empty")
	}
	return nil
}

// buildRule makes a user-defined rule of kind k from a request body.
func buildRule(k Kind, ruleID string, in RuleInput) (Rule, error) {
	if err := validateRuleID(k, ruleID); err != nil {
		return Rule{}, err
	}
	actions, err := ValidateActions(in.Actions)
	if err != nil {
		return Rule{}, err
	}
	r := Rule{RuleID: ruleID, Enabled: true, Actions: actions}
	switch k {
	case Override, Underride:
		conds, err := validateConditions(in.Conditions)
		if err != nil {
			return Rule{}, err
		}
		r.Conditions = conds
	case Content:
		if in.Pattern == nil {
			return Rule{}, refusal.New(refusal.MissingParam, "content rules need a pattern")
		}
		p := *in.Pattern
		r.Pattern = &p
	}
	return r, nil
}
