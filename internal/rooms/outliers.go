package rooms

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"foyer/internal/rooms/matrixevents"
)

// storeOutliers stores events fetched from another server for what they
// are — the state at an event or an auth chain — not for their place in
// the timeline: each is checked against its own auth events (rejected
// when it fails them or one of them is rejected or of another room), given a negative stream
// position, no state group, and kept from clients. Events are taken in
// the order of their auth events; one whose auth events are neither
// stored nor in events is left out. Known events are skipped.
func (s *Service) storeOutliers(ctx context.Context, roomID string, events []matrixevents.Event) error {
	if len(events) == 0 {
		return nil
	}
	e, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return err
	}
	defer e.mu.Unlock()
	var refs []string
	for _, ev := range events {
		refs = append(refs, ev.EventID())
		refs = append(refs, ev.AuthEventIDs()...)
	}
	known, err := s.store.EventsAnyStatus(ctx, refs)
	if err != nil {
		return err
	}
	pending := map[string]matrixevents.Event{}
	for _, ev := range events {
		if _, ok := known[ev.EventID()]; !ok && ev.RoomID() == roomID {
			pending[ev.EventID()] = ev
		}
	}
	a := Append{RoomID: roomID, Extremities: e.info.Extremities, StateGroup: e.info.StateGroup}
	// Rounds: each stores the events whose auth events are all known.
	for len(pending) > 0 {
		var ready []matrixevents.Event
		for _, ev := range pending {
			if !slices.ContainsFunc(ev.AuthEventIDs(), func(id string) bool { _, ok := known[id]; return !ok }) {
				ready = append(ready, ev)
			}
		}
		if len(ready) == 0 {
			break // The rest cite auth events nobody gave.
		}
		slices.SortFunc(ready, func(a, b matrixevents.Event) int {
			return cmp.Or(cmp.Compare(a.Depth(), b.Depth()), strings.Compare(a.EventID(), b.EventID()))
		})
		for _, ev := range ready {
			delete(pending, ev.EventID())
			var authEvents []matrixevents.Event
			rejected := false
			for _, id := range ev.AuthEventIDs() {
				authEvents = append(authEvents, known[id].Event)
				rejected = rejected || known[id].Rejected || known[id].Event.RoomID() != roomID
			}
			rejected = rejected || !s.allowed(ctx, ev, authEvents)
			pos, done, err := s.positions.Reserve(ctx)
			if err != nil {
				return err
			}
			done()
			pe := PersistEvent{Event: ev, StreamPos: -pos, Rejected: rejected, Outlier: true,
				// The state at an outlier is not known here: the strictest
				// visibility, so it is only ever served redacted.
				HistoryVisibility: "joined"}
			a.Events = append(a.Events, pe)
			known[ev.EventID()] = StoredEvent{Event: ev, StreamPos: pe.StreamPos, HistoryVisibility: pe.HistoryVisibility, Rejected: rejected, Outlier: true}
		}
	}
	if len(a.Events) == 0 {
		return nil
	}
	return s.store.Append(ctx, a)
}
