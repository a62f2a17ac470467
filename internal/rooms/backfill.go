package rooms

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"time"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// Bounds on one backfill.
const (
	// backfillServers is how many of the room's servers are asked in turn.
	backfillServers = 3
	// backfillTimeout bounds one backfill, every server asked.
	backfillTimeout = 30 * time.Second
	// backfillFrom is how many of the room's earliest events are looked
	// at for the ones whose prev_events are missing.
	backfillFrom = 20
	// pageBackfillTimeout bounds the backfill a client's /messages waits
	// for; it answers with what there is after that.
	pageBackfillTimeout = 10 * time.Second
	// pageBackfillMin is the fewest events a page's backfill asks for.
	pageBackfillMin = 20
	// pageBackfillQuiet is how long /messages does not backfill a room
	// again after a backfill that brought nothing.
	pageBackfillQuiet = time.Minute
)

// backfillForPage backfills a room when a backwards /messages page (with
// no "to") ran out of events before its limit — it reached the oldest
// event here — and reports whether events were stored, so the page is
// read again. A room whose history is complete here costs two queries; a
// room whose backfill brought nothing is not backfilled again for a
// while, so paging at its start does not ask other servers each time.
func (s *Service) backfillForPage(ctx context.Context, roomID string, q MessagesQuery, page Page) bool {
	limit := q.Limit
	if limit <= 0 {
		limit = 10
	}
	if s.dag == nil || !q.Backwards || q.To != nil || len(page.Events) >= limit {
		return false
	}
	if until, ok := s.backfillQuiet.Load(roomID); ok && s.now().Before(until.(time.Time)) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, pageBackfillTimeout)
	defer cancel()
	n, err := s.Backfill(ctx, roomID, max(limit, pageBackfillMin))
	if err != nil {
		s.log.InfoContext(ctx, "backfilling for /messages", "room_id", roomID, "err", err)
	}
	if n == 0 {
		s.backfillQuiet.Store(roomID, s.now().Add(pageBackfillQuiet))
	} else {
		s.backfillQuiet.Delete(roomID)
	}
	return n > 0
}

// Backfill asks the other servers in the room, in turn, for up to limit
// (1 to MaxBackfill) events before the earliest events this server has
// of roomID, and stores those that check where they belong: before what
// the room had, in topological order, at stream positions below every
// sync token — /messages shows them, /sync never as new — changing
// neither the room's current state nor its forward extremities. An event
// whose prev_events are still missing is stored on the state before it
// that the answering server gives. It returns how many events were
// stored; 0 when the room's history is complete here (its create event
// is stored) or no server answered.
func (s *Service) Backfill(ctx context.Context, roomID string, limit int) (int, error) {
	if s.dag == nil {
		return 0, nil
	}
	limit = min(max(limit, 1), MaxBackfill)
	from, err := s.backwardExtremities(ctx, roomID)
	if err != nil || len(from) == 0 {
		return 0, err
	}
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return 0, err
	}
	servers := joinedServers(maps.Values(snap.State))
	servers = slices.DeleteFunc(servers, func(sv string) bool { return sv == s.serverName })
	ctx, cancel := context.WithTimeout(ctx, backfillTimeout)
	defer cancel()
	for _, server := range servers[:min(len(servers), backfillServers)] {
		n, err := s.backfillFrom(ctx, server, snap.Info.Version, roomID, from, limit)
		if err != nil {
			s.log.InfoContext(ctx, "backfilling a room", "room_id", roomID, "server", server, "err", err)
			continue
		}
		return n, nil
	}
	return 0, nil
}

// backwardExtremities are the earliest events of the room in the
// timeline whose prev_events are not all there: where history stops.
func (s *Service) backwardExtremities(ctx context.Context, roomID string) ([]string, error) {
	first, err := s.store.TopoEvents(ctx, roomID, TopoPos{Stream: math.MinInt64}, topoEnd, false, backfillFrom, EventFilter{})
	if err != nil {
		return nil, err
	}
	var prevs []string
	for _, se := range first {
		prevs = append(prevs, se.Event.PrevEventIDs()...)
	}
	have, err := s.store.EventsAnyStatus(ctx, prevs)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, se := range first {
		if slices.ContainsFunc(se.Event.PrevEventIDs(), func(id string) bool { p, ok := have[id]; return !ok || p.Outlier }) {
			out = append(out, se.Event.EventID())
		}
	}
	return out, nil
}

// backfillFrom asks server for the events before from and stores them.
func (s *Service) backfillFrom(ctx context.Context, server, version, roomID string, from []string, limit int) (int, error) {
	txn, err := s.dag.client.Backfill(ctx, server, roomID, from, limit)
	if err != nil {
		return 0, err
	}
	var events []matrixevents.Event
	for _, raw := range txn.PDUs[:min(len(txn.PDUs), limit)] {
		ev, err := s.checkFetched(ctx, version, roomID, raw)
		if err != nil {
			s.log.InfoContext(ctx, "dropping a backfilled event", "server", server, "err", err)
			continue
		}
		if !slices.ContainsFunc(events, func(o matrixevents.Event) bool { return o.EventID() == ev.EventID() }) {
			events = append(events, ev)
		}
	}
	budget := NewFetchBudget(DefaultFetchBudget)
	stored := 0
	for _, ev := range topological(events) {
		ok, err := s.backfillOne(ctx, server, ev, budget)
		if err != nil {
			s.log.InfoContext(ctx, "storing a backfilled event", "server", server, "event_id", ev.EventID(), "err", err)
			continue
		}
		if ok {
			stored++
		}
	}
	return stored, nil
}

// backfillOne stores one backfilled event, on the state after its
// prev_events or, when they are missing, the state server gives; false
// when it was stored already (an outlier is put in the timeline).
func (s *Service) backfillOne(ctx context.Context, server string, ev matrixevents.Event, budget *FetchBudget) (bool, error) {
	missing, err := s.missingPrevs(ctx, ev)
	if err != nil {
		return false, err
	}
	var given []string
	if len(missing) > 0 {
		if given, err = s.stateFromRemote(ctx, server, ev, missing, budget); err != nil {
			return false, err
		}
	}
	e, err := s.lockRoom(ctx, ev.RoomID())
	if err != nil {
		return false, err
	}
	defer e.mu.Unlock()
	known, err := s.store.EventsAnyStatus(ctx, []string{ev.EventID()})
	if err != nil {
		return false, err
	}
	prior, isStored := known[ev.EventID()]
	if isStored && !prior.Outlier {
		return false, nil
	}
	// An outlier (stored for state or auth only) takes its place now.
	replacesOutlier := isStored
	if len(ev.PrevEventIDs()) == 0 {
		create, ok := e.state[matrixevents.StateTuple{Type: "m.room.create"}]
		if !ok || create.Event.EventID() != ev.EventID() {
			return false, errors.New("a backfilled event without prev_events that is not the room's create event")
		}
		given = []string{} // The start of the room: nothing before it.
	}
	refs := slices.Concat(ev.AuthEventIDs(), ev.PrevEventIDs())
	if given != nil {
		refs = slices.Concat(ev.AuthEventIDs(), given)
	}
	byID, err := s.store.EventsAnyStatus(ctx, refs)
	if err != nil {
		return false, err
	}
	for _, id := range refs {
		if _, ok := byID[id]; !ok {
			return false, refusal.New(refusal.NotFound, "event %s refers to %s, which this server does not have", ev.EventID(), id)
		}
	}
	// History is checked against its own auth events and the state before
	// it; the room's current state does not apply (no soft failure).
	status, err := s.receiveStatus(ctx, e, ev, byID, given)
	if err != nil {
		return false, err
	}
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return false, err
	}
	done()
	pe := PersistEvent{
		Event: ev, StreamPos: -pos, StateBefore: status.groupBefore,
		HistoryVisibility: historyVisibility(status.stateBefore),
		Rejected:          status.Rejected, Backfilled: true, ReplacesOutlier: replacesOutlier,
	}
	if prev, ok := status.stateBefore[tupleOf(ev)]; ok && ev.IsState() {
		pe.ReplacesState = prev.Event.EventID()
	}
	return true, s.store.Append(ctx, Append{RoomID: e.info.RoomID, Events: []PersistEvent{pe}, StateGroups: status.groups,
		Extremities: e.info.Extremities, StateGroup: e.info.StateGroup})
}
