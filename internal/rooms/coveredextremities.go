package rooms

import "context"

// maxCoveredWalk bounds the events read to find the extremities an
// accepted event covers through soft-failed or rejected ones.
const maxCoveredWalk = 200

// coveredExtremities is the set of events an accepted event with these
// prev_events stops being extremities: the prev_events themselves and,
// through any of them that were soft-failed or rejected (never
// extremities themselves), the events those were built on, and so on.
// Otherwise an event that only a soft-failed chain follows would stay an
// extremity for ever and be referenced by every new local event.
func (s *Service) coveredExtremities(ctx context.Context, e *roomEntry, prevs []string) (map[string]bool, error) {
	covered := make(map[string]bool, len(prevs))
	for _, id := range prevs {
		covered[id] = true
	}
	if !s.extremitiesRemain(e, covered) {
		return covered, nil
	}
	frontier, read := prevs, 0
	for len(frontier) > 0 && read < maxCoveredWalk {
		read += len(frontier)
		found, err := s.eventsHeldOrStored(ctx, e, frontier)
		if err != nil {
			return nil, err
		}
		var next []string
		for _, id := range frontier {
			se, ok := found[id]
			if !ok || !(se.SoftFailed || se.Rejected) {
				continue
			}
			for _, p := range se.Event.PrevEventIDs() {
				if !covered[p] {
					covered[p] = true
					next = append(next, p)
				}
			}
		}
		if !s.extremitiesRemain(e, covered) {
			break
		}
		frontier = next
	}
	return covered, nil
}

// extremitiesRemain reports whether any current extremity is not covered.
func (s *Service) extremitiesRemain(e *roomEntry, covered map[string]bool) bool {
	for _, x := range e.info.Extremities {
		if !covered[x.EventID] {
			return true
		}
	}
	return false
}
