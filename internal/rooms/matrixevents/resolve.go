package matrixevents

import (
	"errors"
	"fmt"
	"slices"

	gmsl "github.com/matrix-org/gomatrixserverlib"
)

// ResolveState merges several states of one room (each the state after
// one of its forward extremities, or after one prev_event) with the room
// version's state resolution algorithm: v2 for every version Foyer
// supports (v2.1 for room version 12). authChain must hold every event of
// the auth chains of the states' events; isRejected names those of them
// that were rejected. An impossible resolution (no create event, where the
// library answers with an empty state) is an error.
//
// Known limit of the pinned library: in room version 12 (v2.1) it checks
// each conflicted event without the create event, which that version
// keeps out of auth_events, so conflicted events other than the create
// event fall out of the resolved state.
func ResolveState(roomVersion string, stateSets [][]Event, authChain []Event, isRejected func(eventID string) bool) (resolved []Event, err error) {
	if len(stateSets) == 0 {
		return nil, errors.New("resolve state: no states")
	}
	if len(stateSets) == 1 {
		return stateSets[0], nil
	}
	sets := make([][]gmsl.PDU, 0, len(stateSets))
	for _, set := range stateSets {
		ps, err := pdus(set)
		if err != nil {
			return nil, fmt.Errorf("resolve state: %w", err)
		}
		sets = append(sets, ps)
	}
	// The library looks every event up in the auth events, the conflicted
	// ones too (state resolution v2.1 walks from them), so the states'
	// events join the chain.
	seen := map[string]bool{}
	var all []Event
	for _, ev := range slices.Concat(append([][]Event{authChain}, stateSets...)...) {
		if !ev.IsZero() && !seen[ev.EventID()] {
			seen[ev.EventID()] = true
			all = append(all, ev)
		}
	}
	auth, err := pdus(all)
	if err != nil {
		return nil, fmt.Errorf("resolve state: %w", err)
	}
	if _, err := lookupVersion(roomVersion); err != nil {
		return nil, err
	}
	if isRejected == nil {
		isRejected = func(string) bool { return false }
	}
	defer func() {
		if r := recover(); r != nil {
			resolved, err = nil, fmt.Errorf("resolve state: library panic: %v", r)
		}
	}()
	out, err := gmsl.ResolveConflictsNew(gmsl.RoomVersion(roomVersion), sets, auth, userIDForSender, isRejected)
	if err != nil {
		return nil, fmt.Errorf("resolve state: %w", err)
	}
	if !slices.ContainsFunc(out, func(p gmsl.PDU) bool { return p.Type() == TypeCreate && p.StateKeyEquals("") }) {
		// The library answers an impossible resolution with empty (or
		// create-less) state rather than an error.
		return nil, errors.New("resolve state: the resolved state has no create event (is it missing from the auth chain?)")
	}
	resolved = make([]Event, 0, len(out))
	for _, p := range out {
		ev, err := newEvent(p)
		if err != nil {
			return nil, err
		}
		resolved = append(resolved, ev)
	}
	return resolved, nil
}
