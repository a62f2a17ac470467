package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// Bounds on what one request of another server makes this server walk.
const (
	// MaxMissingEvents is the most get_missing_events answers (the limit
	// Synapse applies too); DefaultMissingEvents when none is asked.
	MaxMissingEvents     = 20
	DefaultMissingEvents = 10
	// MaxBackfill is the most one /backfill answers.
	MaxBackfill = 100
)

// serverReader is a server asking for a room's events, and what decides
// which of them it may see.
type serverReader struct {
	svc    *Service
	server string
	info   RoomInfo
	// everJoined: a user of the server has been joined to the room.
	everJoined bool
	// joinedIn caches, by state group, whether the server had a joined
	// (or invited) member in that state.
	joinedIn map[int64]string
	// erased caches, by sender, whether the sender's messages are erased.
	erased map[string]bool
}

func (r *serverReader) senderErased(ctx context.Context, se StoredEvent) bool {
	sender := se.Event.Sender()
	if v, ok := r.erased[sender]; ok {
		return v
	}
	if r.erased == nil {
		r.erased = map[string]bool{}
	}
	r.erased[sender] = r.svc.erasedSenders(ctx, []StoredEvent{se})[sender]
	return r.erased[sender]
}

// readerFor checks that server may read roomID's DAG: the room is known
// here (NotFound otherwise), its server ACL admits server, and server is
// or was in the room — it has a joined member now or had one, or the
// room is world-readable now (Forbidden otherwise). Which events it sees
// is then decided event by event (canSee).
func (s *Service) readerFor(ctx context.Context, roomID, server string) (*serverReader, error) {
	if _, err := s.store.GetRoom(ctx, roomID); errors.Is(err, ErrNotFound) {
		return nil, refusal.New(refusal.NotFound, "there is no room %s on this server", roomID)
	} else if err != nil {
		return nil, err
	}
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if acl, ok := snap.Get(TypeServerACL, ""); ok && !ServerACLAllows(acl.Event.Content(), server) {
		return nil, refusal.New(refusal.Forbidden, "%s is denied by the server ACL of room %s", server, roomID)
	}
	r := &serverReader{svc: s, server: server, info: snap.Info, joinedIn: map[int64]string{}}
	joinedNow := serverMembership(snap.State, server) == "join"
	if joinedNow {
		r.everJoined = true
	} else if r.everJoined, err = s.store.ServerEverJoined(ctx, roomID, server); err != nil {
		return nil, err
	}
	if !r.everJoined && snap.HistoryVisibility() != "world_readable" {
		return nil, refusal.New(refusal.Forbidden, "%s is not in room %s", server, roomID)
	}
	return r, nil
}

// serverMembership is the best membership a user of server has in state:
// "join", else "invite", else "".
func serverMembership(state map[matrixevents.StateTuple]StoredEvent, server string) string {
	best := ""
	suffix := ":" + server
	for t, se := range state {
		if t.Type != matrixevents.TypeMember || !strings.HasSuffix(t.StateKey, suffix) {
			continue
		}
		switch se.Event.Membership() {
		case "join":
			return "join"
		case "invite":
			best = "invite"
		}
	}
	return best
}

// canSee applies the spec's history visibility rules to a server, as
// Synapse does: an event sent while the room was world_readable or
// shared (to a server that has been in the room) is visible; under
// invited or joined, the server must have had a joined member (or an
// invited one, under invited) in the state at the event. For a history
// visibility event the value it sets counts too.
func (r *serverReader) canSee(ctx context.Context, se StoredEvent) (bool, error) {
	histories := []string{normaliseHistory(se.HistoryVisibility)}
	if se.Event.Type() == "m.room.history_visibility" && se.Event.IsState() {
		var c struct {
			HistoryVisibility string `json:"history_visibility"`
		}
		_ = json.Unmarshal(se.Event.Content(), &c)
		histories = append(histories, normaliseHistory(c.HistoryVisibility))
	}
	for _, h := range histories {
		if h == "world_readable" || (h == "shared" && r.everJoined) {
			return true, nil
		}
	}
	m, ok := r.joinedIn[se.StateGroup]
	if !ok {
		if se.StateGroup == 0 {
			m = "" // An outlier: the state at it is not known here.
		} else {
			list, err := r.svc.store.StateGroup(ctx, se.StateGroup)
			if err != nil {
				return false, err
			}
			m = serverMembership(stateMap(list), r.server)
		}
		r.joinedIn[se.StateGroup] = m
	}
	return m == "join" || (m == "invite" && slices.Contains(histories, "invited")), nil
}

// served is the event as the server may have it: whole, or redacted when
// it may not see it or its sender was erased (as Synapse answers, so the
// DAG stays whole).
func (r *serverReader) served(ctx context.Context, se StoredEvent) (matrixevents.Event, error) {
	ok, err := r.canSee(ctx, se)
	if err != nil {
		return se.Event, err
	}
	// An erased user's events reach other servers redacted.
	if ok && !r.senderErased(ctx, se) {
		return se.Event, nil
	}
	data, err := matrixevents.Redact(r.info.Version, se.Event.JSON())
	if err != nil {
		return matrixevents.Event{}, err
	}
	return matrixevents.ParseTrusted(r.info.Version, data)
}

// servable looks up a stored event of the room that may be served to
// other servers: any but a rejected one (soft-failed events and outliers
// are served, as Synapse does).
func (r *serverReader) servable(ctx context.Context, eventID string) (StoredEvent, error) {
	found, err := r.svc.store.EventsAnyStatus(ctx, []string{eventID})
	if err != nil {
		return StoredEvent{}, err
	}
	se, ok := found[eventID]
	if !ok || se.Rejected || se.Event.RoomID() != r.info.RoomID {
		return StoredEvent{}, refusal.New(refusal.NotFound, "there is no event %s in room %s", eventID, r.info.RoomID)
	}
	return se, nil
}

// EventForServer is GET /event/{eventId}: the stored event, redacted when
// server may not see it.
func (s *Service) EventForServer(ctx context.Context, server, eventID string) (matrixevents.Event, error) {
	found, err := s.store.EventsAnyStatus(ctx, []string{eventID})
	if err != nil {
		return matrixevents.Event{}, err
	}
	se, ok := found[eventID]
	if !ok || se.Rejected {
		return matrixevents.Event{}, refusal.New(refusal.NotFound, "there is no event %s on this server", eventID)
	}
	r, err := s.readerFor(ctx, se.Event.RoomID(), server)
	if err != nil {
		return matrixevents.Event{}, err
	}
	return r.served(ctx, se)
}

// StateForServer is the state before eventID and its auth chain, for
// /state and /state_ids: the event must be one server may see, and one
// whose state this server knows (not an outlier).
func (s *Service) StateForServer(ctx context.Context, server, roomID, eventID string) (StateAtEvent, error) {
	r, err := s.readerFor(ctx, roomID, server)
	if err != nil {
		return StateAtEvent{}, err
	}
	se, err := r.servable(ctx, eventID)
	if err != nil {
		return StateAtEvent{}, err
	}
	if se.Outlier || se.StateGroup == 0 {
		return StateAtEvent{}, refusal.New(refusal.NotFound, "this server does not know the state at %s", eventID)
	}
	if ok, err := r.canSee(ctx, se); err != nil {
		return StateAtEvent{}, err
	} else if !ok {
		return StateAtEvent{}, refusal.New(refusal.Forbidden, "%s may not see event %s", server, eventID)
	}
	at, err := s.stateAtStored(ctx, se)
	if err != nil {
		return StateAtEvent{}, err
	}
	return at, nil
}

// AuthChainForServer is /event_auth: every event in eventID's auth chain.
func (s *Service) AuthChainForServer(ctx context.Context, server, roomID, eventID string) ([]matrixevents.Event, error) {
	r, err := s.readerFor(ctx, roomID, server)
	if err != nil {
		return nil, err
	}
	se, err := r.servable(ctx, eventID)
	if err != nil {
		return nil, err
	}
	if ok, err := r.canSee(ctx, se); err != nil {
		return nil, err
	} else if !ok {
		return nil, refusal.New(refusal.Forbidden, "%s may not see event %s", server, eventID)
	}
	chain, _, err := s.authChain(ctx, [][]matrixevents.Event{{se.Event}})
	return chain, err
}

// MissingEventsForServer is get_missing_events: a breadth-first walk of
// the prev_events of latest, skipping earliest and events below
// minDepth, of at most limit events (1 to MaxMissingEvents), answered
// oldest first (the walk reversed, as Synapse answers), each redacted
// when server may not see it. latest are not part of the answer.
func (s *Service) MissingEventsForServer(ctx context.Context, server, roomID string, earliest, latest []string, limit int, minDepth int64) ([]matrixevents.Event, error) {
	r, err := s.readerFor(ctx, roomID, server)
	if err != nil {
		return nil, err
	}
	limit = min(max(limit, 1), MaxMissingEvents)
	seen := map[string]bool{}
	for _, id := range earliest {
		seen[id] = true
	}
	var front []string
	for _, id := range latest {
		if !seen[id] {
			front = append(front, id)
			seen[id] = true
		}
	}
	var walked []StoredEvent
	for len(front) > 0 && len(walked) < limit {
		found, err := s.store.EventsAnyStatus(ctx, front)
		if err != nil {
			return nil, err
		}
		var next []string
		for _, id := range front {
			se, ok := found[id]
			if !ok || se.Rejected || se.Event.RoomID() != roomID {
				continue
			}
			for _, p := range se.Event.PrevEventIDs() {
				if !seen[p] {
					seen[p] = true
					next = append(next, p)
				}
			}
		}
		prevs, err := s.store.EventsAnyStatus(ctx, next)
		if err != nil {
			return nil, err
		}
		front = front[:0]
		for _, id := range next {
			se, ok := prevs[id]
			if !ok || se.Rejected || se.Event.RoomID() != roomID || se.Event.Depth() < minDepth {
				continue
			}
			if len(walked) < limit {
				walked = append(walked, se)
				front = append(front, id)
			}
		}
	}
	slices.Reverse(walked)
	return r.servedAll(ctx, walked)
}

// BackfillForServer is /backfill: the events from and those before them,
// walked through prev_events greatest depth first, at most limit (1 to
// MaxBackfill), each redacted when server may not see it.
func (s *Service) BackfillForServer(ctx context.Context, server, roomID string, from []string, limit int) ([]matrixevents.Event, error) {
	r, err := s.readerFor(ctx, roomID, server)
	if err != nil {
		return nil, err
	}
	limit = min(max(limit, 1), MaxBackfill)
	seen := map[string]bool{}
	var queue []StoredEvent
	add := func(ids []string) error {
		var want []string
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				want = append(want, id)
			}
		}
		found, err := s.store.EventsAnyStatus(ctx, want)
		if err != nil {
			return err
		}
		for _, id := range want {
			if se, ok := found[id]; ok && !se.Rejected && se.Event.RoomID() == roomID {
				queue = append(queue, se)
			}
		}
		return nil
	}
	if err := add(from); err != nil {
		return nil, err
	}
	var out []StoredEvent
	for len(queue) > 0 && len(out) < limit {
		// The deepest event first, so the answer runs back through time.
		i := 0
		for j, se := range queue {
			if topoLess(queue[i], se) {
				i = j
			}
		}
		se := queue[i]
		queue = slices.Delete(queue, i, i+1)
		out = append(out, se)
		if err := add(se.Event.PrevEventIDs()); err != nil {
			return nil, err
		}
	}
	return r.servedAll(ctx, out)
}

// topoLess orders events by depth, then stream position.
func topoLess(a, b StoredEvent) bool {
	if a.Event.Depth() != b.Event.Depth() {
		return a.Event.Depth() < b.Event.Depth()
	}
	return a.StreamPos < b.StreamPos
}

func (r *serverReader) servedAll(ctx context.Context, list []StoredEvent) ([]matrixevents.Event, error) {
	out := make([]matrixevents.Event, 0, len(list))
	for _, se := range list {
		ev, err := r.served(ctx, se)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}
