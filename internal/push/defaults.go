package push

import (
	"encoding/json"
	"strings"
)

// Server-default rule IDs of spec v1.19 ("Predefined Rules"). Spec v1.17
// removed the legacy body-mention rules (.m.rule.contains_display_name,
// .m.rule.roomnotif and the content rule .m.rule.contains_user_name), so
// the v1.19 set has no content rules.
const (
	RuleMaster          = ".m.rule.master"
	RuleSuppressNotices = ".m.rule.suppress_notices"
	RuleInviteForMe     = ".m.rule.invite_for_me"
	RuleMemberEvent     = ".m.rule.member_event"
	RuleIsUserMention   = ".m.rule.is_user_mention"
	RuleIsRoomMention   = ".m.rule.is_room_mention"
	RuleTombstone       = ".m.rule.tombstone"
	RuleReaction        = ".m.rule.reaction"
	RuleServerACL       = ".m.rule.room.server_acl"
	RuleSuppressEdits   = ".m.rule.suppress_edits"

	RuleCall                  = ".m.rule.call"
	RuleEncryptedRoomOneToOne = ".m.rule.encrypted_room_one_to_one"
	RuleRoomOneToOne          = ".m.rule.room_one_to_one"
	RuleMessage               = ".m.rule.message"
	RuleEncrypted             = ".m.rule.encrypted"
)

// IsServerDefaultID reports whether a rule ID is in the namespace the spec
// reserves for server-default rules (it starts with a dot).
func IsServerDefaultID(ruleID string) bool { return strings.HasPrefix(ruleID, ".") }

func strp(s string) *string { return &s }

func eventMatch(key, pattern string) Condition {
	return Condition{Kind: CondEventMatch, Key: strp(key), Pattern: strp(pattern)}
}

func propertyIs(key string, value any) Condition {
	v, _ := json.Marshal(value)
	return Condition{Kind: CondEventPropertyIs, Key: strp(key), Value: v}
}

func propertyContains(key string, value any) Condition {
	v, _ := json.Marshal(value)
	return Condition{Kind: CondEventPropertyContains, Key: strp(key), Value: v}
}

func memberCount(is string) Condition {
	return Condition{Kind: CondRoomMemberCount, Is: strp(is)}
}

func senderPermission(key string) Condition {
	return Condition{Kind: CondSenderNotificationPerm, Key: strp(key)}
}

// acts builds an actions list from JSON literals.
func acts(items ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(items))
	for i, s := range items {
		out[i] = json.RawMessage(s)
	}
	return out
}

const (
	actNotify       = `"notify"`
	actSoundDefault = `{"set_tweak":"sound","value":"default"}`
	actSoundRing    = `{"set_tweak":"sound","value":"ring"}`
	actHighlight    = `{"set_tweak":"highlight"}`
)

func defaultRule(id string, enabled bool, conds []Condition, actions []json.RawMessage) Rule {
	if conds == nil {
		conds = []Condition{}
	}
	return Rule{RuleID: id, Default: true, Enabled: enabled, Conditions: conds, Actions: actions}
}

// DefaultRules is the server-default ruleset of spec v1.19 for userID, in
// the order the spec lists it, with the user's Matrix ID substituted where
// the spec says "[the user's Matrix ID]". Each call returns fresh slices.
func DefaultRules(userID string) RuleSet {
	return RuleSet{
		Override: []Rule{
			defaultRule(RuleMaster, false, nil, acts()),
			defaultRule(RuleSuppressNotices, true, []Condition{
				eventMatch("content.msgtype", "m.notice"),
			}, acts()),
			defaultRule(RuleInviteForMe, true, []Condition{
				eventMatch("type", "m.room.member"),
				eventMatch("content.membership", "invite"),
				eventMatch("state_key", userID),
			}, acts(actNotify, actSoundDefault)),
			defaultRule(RuleMemberEvent, true, []Condition{
				eventMatch("type", "m.room.member"),
			}, acts()),
			defaultRule(RuleIsUserMention, true, []Condition{
				propertyContains(`content.m\.mentions.user_ids`, userID),
			}, acts(actNotify, actSoundDefault, actHighlight)),
			defaultRule(RuleIsRoomMention, true, []Condition{
				propertyIs(`content.m\.mentions.room`, true),
				senderPermission("room"),
			}, acts(actNotify, actHighlight)),
			defaultRule(RuleTombstone, true, []Condition{
				eventMatch("type", "m.room.tombstone"),
				eventMatch("state_key", ""),
			}, acts(actNotify, actHighlight)),
			defaultRule(RuleReaction, true, []Condition{
				eventMatch("type", "m.reaction"),
			}, acts()),
			defaultRule(RuleServerACL, true, []Condition{
				eventMatch("type", "m.room.server_acl"),
				eventMatch("state_key", ""),
			}, acts()),
			defaultRule(RuleSuppressEdits, true, []Condition{
				propertyIs(`content.m\.relates_to.rel_type`, "m.replace"),
			}, acts()),
		},
		Content: []Rule{},
		Room:    []Rule{},
		Sender:  []Rule{},
		Underride: []Rule{
			defaultRule(RuleCall, true, []Condition{
				eventMatch("type", "m.call.invite"),
			}, acts(actNotify, actSoundRing)),
			defaultRule(RuleEncryptedRoomOneToOne, true, []Condition{
				memberCount("2"),
				eventMatch("type", "m.room.encrypted"),
			}, acts(actNotify, actSoundDefault)),
			defaultRule(RuleRoomOneToOne, true, []Condition{
				memberCount("2"),
				eventMatch("type", "m.room.message"),
			}, acts(actNotify, actSoundDefault)),
			defaultRule(RuleMessage, true, []Condition{
				eventMatch("type", "m.room.message"),
			}, acts(actNotify)),
			defaultRule(RuleEncrypted, true, []Condition{
				eventMatch("type", "m.room.encrypted"),
			}, acts(actNotify)),
		},
	}
}
