package rooms

import (
	"context"

	"foyer/internal/rooms/matrixevents"
)

// Every event served to a client carries unsigned.membership: the
// requesting user's membership at that event, counting the change the
// event itself makes, and "leave" when they had none (MSC4115, spec
// v1.11).

// viewerHistories loads the viewer's membership history once for each
// room events come from; nil when ctx names no viewer. A room whose
// history cannot be read is left out: its events go without the
// membership, which the spec lets a server omit.
func (s *Service) viewerHistories(ctx context.Context, events []StoredEvent) map[string]viewerHistory {
	viewer, ok := viewerFrom(ctx)
	if !ok || viewer == "" || len(events) == 0 {
		return nil
	}
	out := map[string]viewerHistory{}
	tried := map[string]bool{}
	for _, se := range events {
		roomID := se.Event.RoomID()
		if tried[roomID] {
			continue
		}
		tried[roomID] = true
		if vh, err := s.loadViewer(ctx, roomID, viewer); err == nil {
			out[roomID] = vh
		}
	}
	return out
}

// membershipAt is the viewer's membership once se has happened: the one
// se sets if it is the viewer's own member event, otherwise the one in
// force when it was sent, "leave" for none.
func (vh viewerHistory) membershipAt(se StoredEvent) string {
	ev := se.Event
	if ev.Type() == matrixevents.TypeMember && ev.StateKey() != nil && *ev.StateKey() == vh.userID {
		return ev.Membership()
	}
	if m := vh.membershipBefore(se.StreamPos); m != "" {
		return m
	}
	return "leave"
}
