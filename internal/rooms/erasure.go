package rooms

import (
	"context"
	"slices"

	"foyer/internal/rooms/matrixevents"
)

// Users who deactivated with "erase": true keep their events in the DAG,
// but their content is served only to those who were joined to the room
// when an event was sent; anyone else, and every other server, gets the
// event redacted, as Synapse does.

// erasedSenders returns which senders of events are erased; nil when
// none is, the usual case, at the cost of one indexed read.
func (s *Service) erasedSenders(ctx context.Context, events []StoredEvent) map[string]bool {
	if s.accounts == nil || len(events) == 0 {
		return nil
	}
	var senders []string
	for _, se := range events {
		if !slices.Contains(senders, se.Event.Sender()) {
			senders = append(senders, se.Event.Sender())
		}
	}
	erased, err := s.accounts.ErasedAmong(ctx, senders)
	if err != nil {
		// Unknown: served redacted, the side that keeps an erasure.
		erased = map[string]bool{}
		for _, u := range senders {
			erased[u] = true
		}
	}
	if len(erased) == 0 {
		return nil
	}
	return erased
}

// withErasure returns events with those of erased senders redacted for
// the viewer of ctx, unless the viewer was joined when they were sent;
// histories are the viewer's, per room (viewerHistories), and a room
// missing there counts as never joined.
func (s *Service) withErasure(ctx context.Context, events []StoredEvent, histories map[string]viewerHistory) []StoredEvent {
	erased := s.erasedSenders(ctx, events)
	if erased == nil {
		return events
	}
	viewer, _ := viewerFrom(ctx)
	out := slices.Clone(events)
	for i, se := range out {
		if !erased[se.Event.Sender()] || se.Event.Sender() == viewer {
			continue
		}
		vh, ok := histories[se.Event.RoomID()]
		if ok && viewer != "" && se.StreamPos > 0 && vh.membershipBefore(se.StreamPos) == "join" {
			continue
		}
		out[i].Event = redactedForServing(se.Event)
	}
	return out
}

// redactedForServing is ev with the redaction algorithm applied (ev
// itself if that fails, which a stored event cannot).
func redactedForServing(ev matrixevents.Event) matrixevents.Event {
	data, err := matrixevents.Redact(ev.Version(), ev.JSON())
	if err != nil {
		return ev
	}
	red, err := matrixevents.ParseTrusted(ev.Version(), data)
	if err != nil {
		return ev
	}
	return red
}
