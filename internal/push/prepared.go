package push

import "context"

// PreparedEvent is an event decoded once for evaluation against many
// users' rules: a room of thousands evaluates each event once per member,
// and decoding its content per member would dominate the cost.
type PreparedEvent struct{ e *evalEvent }

// Prepare decodes ev for EvaluatePrepared.
func Prepare(ev Event) PreparedEvent { return PreparedEvent{newEvalEvent(ev)} }

// EvaluatePrepared is EvaluateMatch over a prepared event, with the
// user's merged rules from the cache (refreshed when they change).
func (s *Service) EvaluatePrepared(ctx context.Context, userID string, pe PreparedEvent, rc RoomContext) (Match, bool, error) {
	if pe.e.ev.Sender == userID {
		return Match{}, false, nil
	}
	c, err := s.load(ctx, userID)
	if err != nil {
		return Match{}, false, err
	}
	m, ok := evaluatePrepared(c.merged, pe.e, rc)
	return m, ok, nil
}

func evaluatePrepared(rs RuleSet, e *evalEvent, rc RoomContext) (Match, bool) {
	for _, k := range Kinds {
		for _, r := range rs.Kind(k) {
			if !r.Enabled || !e.ruleMatches(k, r, rc) {
				continue
			}
			return interpretActions(k, r), true
		}
	}
	return Match{}, false
}
