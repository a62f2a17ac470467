package push

import (
	"context"
	"slices"
	"strings"
)

// nobody stands for every user who kept the server-default rules in one
// shared evaluation of an event: no real event names it.
const nobody = "@\x00nobody:\x00"

// SharedOutcome is an event's outcome for every user who kept the
// server-default rules and whom the event does not name. Those rules
// depend on the user only through the invitee (state_key) and the
// mentioned users (content.m.mentions.user_ids), so one evaluation
// serves all such users: a room's event costs the same rule work
// whatever the number of its members.
type SharedOutcome struct {
	match Match
	ok    bool
	valid bool
}

// Shared evaluates pe once for users with the default rules.
func Shared(pe PreparedEvent, rc RoomContext) SharedOutcome {
	if pe.e.names(nobody) {
		return SharedOutcome{}
	}
	rc.DisplayName = ""
	m, ok := evaluatePrepared(DefaultRules(nobody), pe.e, rc)
	return SharedOutcome{match: m, ok: ok, valid: true}
}

// EvaluateShared is EvaluatePrepared, answered from shared when the user
// kept the default rules and the event does not name them.
func (s *Service) EvaluateShared(ctx context.Context, userID string, pe PreparedEvent, rc RoomContext, shared SharedOutcome) (Match, bool, error) {
	if pe.e.ev.Sender == userID {
		return Match{}, false, nil
	}
	c, err := s.load(ctx, userID)
	if err != nil {
		return Match{}, false, err
	}
	if shared.valid && c.stock() && !pe.e.names(userID) {
		return shared.match, shared.ok, nil
	}
	m, ok := evaluatePrepared(c.merged, pe.e, rc)
	return m, ok, nil
}

// stock reports whether the user changed nothing of the default rules.
func (c *cachedRules) stock() bool { return len(c.doc.Rules) == 0 && len(c.doc.Defaults) == 0 }

// names reports whether the event may name userID where a default rule
// looks for the user: as the state key or among the mentioned users. It
// errs towards yes (any case, glob characters), which only costs an
// evaluation of the user's own.
func (e *evalEvent) names(userID string) bool {
	if strings.ContainsAny(userID, "*?[") {
		return true
	}
	if e.ev.StateKey != nil && strings.EqualFold(*e.ev.StateKey, userID) {
		return true
	}
	mentioned, _ := e.lookup([]string{"content", "m.mentions", "user_ids"}).([]any)
	return slices.ContainsFunc(mentioned, func(v any) bool {
		s, ok := v.(string)
		return ok && strings.EqualFold(s, userID)
	})
}
