package rooms

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// Received is what became of a received event.
type Received struct {
	EventID string
	// Rejected: the event failed the auth rules against its auth events
	// or against the state before it. SoftFailed: it passed those but not
	// against the room's current state. Both are stored and never shown.
	Rejected, SoftFailed bool
	// StreamPos is where clients see the event (0 when they do not).
	StreamPos int64
}

// Receive adds an event built elsewhere — parsed from untrusted JSON and
// signature-checked by the caller — to a room this server knows, wherever
// it belongs in the room's DAG. It runs the spec's checks in order: the
// auth rules against the event's auth events, then against the state
// before it (the state after its prev_events, resolved when they are
// several), then against the room's current state. An event failing one
// of the first two is rejected, the third soft-failed; either is stored,
// changes no state and stays out of every client's view. An accepted
// event takes its place among the forward extremities, the current state
// becomes the resolution of the extremities' states, and it gets a stream
// position, so /sync shows it. An event that is not shown gets a negative
// position, below every sync token, since the events table is keyed by
// position.
//
// Its prev_events and auth_events must be stored already: ReceiveFrom
// fetches missing ones from the sending server first.
//
// An event another server sent is that server's to send to the room's
// other servers: it is not queued for them here, unless its sender is
// ours (an invite the invitee's server signed) — see ReceiveAsResident.
func (s *Service) Receive(ctx context.Context, ev matrixevents.Event) (Received, error) {
	return s.receive(ctx, ev, nil, false, nil)
}

// ReceiveAsResident is Receive for a membership event another server
// hands this one to enter into the room (send_join, send_leave,
// send_knock): the joining server is not in the room yet, so this server
// sends the accepted event on to the room's other servers.
func (s *Service) ReceiveAsResident(ctx context.Context, ev matrixevents.Event) (Received, error) {
	return s.receive(ctx, ev, nil, true, nil)
}

// receive is Receive; with stateBefore not nil, the event's prev_events
// need not be stored: stateBefore (stored event IDs) is the state before
// it, as another server told it (missingevents.go). relay queues the
// accepted event for the room's other servers. With b, an event that
// leaves the room's state as it was is held in b unwritten, until b is
// flushed or the room locked by another (receivebatch.go).
func (s *Service) receive(ctx context.Context, ev matrixevents.Event, stateBefore []string, relay bool, b *ReceiveBatch) (Received, error) {
	e, err := s.lockRoomFor(ctx, ev.RoomID(), b)
	if err != nil {
		return Received{}, err
	}
	defer e.mu.Unlock()
	if ev.Version() != e.info.Version {
		return Received{}, refusal.New(refusal.BadJSON, "event %s is for room version %s, the room is version %s", ev.EventID(), ev.Version(), e.info.Version)
	}
	refs := slices.Concat(ev.AuthEventIDs(), ev.PrevEventIDs())
	if stateBefore != nil {
		refs = slices.Concat(ev.AuthEventIDs(), stateBefore)
	}
	// The event itself and those it refers to, in one read.
	byID, err := s.eventsHeldOrStored(ctx, e, append([]string{ev.EventID()}, refs...))
	if err != nil {
		return Received{}, err
	}
	prior, isStored := byID[ev.EventID()]
	if isStored && !prior.Outlier {
		return receivedOf(prior), nil
	}
	// An outlier (stored for state or auth only) takes its place now.
	replacesOutlier := isStored

	for _, id := range refs {
		se, ok := byID[id]
		// An auth event of another room rejects the event (receiveStatus):
		// powers held there count for nothing here.
		if !ok || (se.Event.RoomID() != ev.RoomID() && !slices.Contains(ev.AuthEventIDs(), id)) {
			return Received{}, refusal.New(refusal.NotFound, "event %s refers to %s, which this server does not have in the room", ev.EventID(), id)
		}
	}
	// An outlier (held for a join's state, or fetched for a gap's) has no
	// state of its own to build on: as a prev_event it is missing like
	// any other, unless the state before the event is given.
	for _, id := range ev.PrevEventIDs() {
		if se, ok := byID[id]; ok && se.Outlier && stateBefore == nil {
			return Received{}, refusal.New(refusal.NotFound, "event %s follows %s, whose state this server does not know", ev.EventID(), id)
		}
	}
	if len(ev.PrevEventIDs()) == 0 {
		return Received{}, refusal.New(refusal.BadJSON, "event %s has no prev_events: a room has one create event", ev.EventID())
	}
	status, err := s.receiveStatus(ctx, e, ev, byID, stateBefore)
	if err != nil {
		return Received{}, err
	}

	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return Received{}, err
	}
	// A held event's position is released once it is written.
	release := done
	defer func() { release() }()
	shown := !status.Rejected && !status.SoftFailed
	pe := PersistEvent{
		Event: ev, StreamPos: pos, StateBefore: status.groupBefore,
		HistoryVisibility: historyVisibility(status.stateBefore),
		Rejected:          status.Rejected, SoftFailed: status.SoftFailed,
		ReplacesOutlier: replacesOutlier,
	}
	if !shown {
		// Positions clients never sync from: below every token.
		pe.StreamPos = -pos
	}
	if prev, ok := status.stateBefore[tupleOf(ev)]; ok && ev.IsState() {
		pe.ReplacesState = prev.Event.EventID()
	}
	a := Append{RoomID: e.info.RoomID, Events: []PersistEvent{pe}, StateGroups: status.groups,
		Extremities: e.info.Extremities, StateGroup: e.info.StateGroup}
	if shown {
		if err := s.advanceExtremities(ctx, e, ev, pe, &a); err != nil {
			return Received{}, err
		}
		redacts, err := s.receivedRedaction(ctx, e, ev, status.stateBefore)
		if err != nil {
			return Received{}, err
		}
		a.Redacts = redacts
	}
	out := Received{EventID: ev.EventID(), Rejected: status.Rejected, SoftFailed: status.SoftFailed}
	if shown {
		out.StreamPos = pos
	}
	if b != nil && canHold(a, pe) {
		var servers []string
		if _, server, _ := matrixevents.SplitUserID(ev.Sender()); shown && (relay || server == s.serverName) {
			servers = joinedServers(maps.Values(e.state))
		}
		// As the store would read it back.
		rec := StoredEvent{Event: ev, StreamPos: pe.StreamPos, HistoryVisibility: pe.HistoryVisibility, ReplacesState: pe.ReplacesState,
			StateGroup: pe.StateBefore, Rejected: pe.Rejected, SoftFailed: pe.SoftFailed}
		s.hold(e, b, a, done, rec, shown, servers)
		release = func() {}
		keepCachedState(e, a, ev, shown)
		return out, nil
	}
	// Held events go first: this one may follow them.
	if err := s.flushLocked(ctx, e); err != nil {
		return Received{}, err
	}
	if err := s.store.Append(ctx, a); err != nil {
		return Received{}, err
	}
	state := e.state
	keepCachedState(e, a, ev, shown)
	if !shown {
		return out, nil
	}
	stored := StoredEvent{Event: ev, StreamPos: pos, HistoryVisibility: pe.HistoryVisibility, ReplacesState: pe.ReplacesState, StateGroup: pe.StateBefore}
	if ev.IsState() {
		stored.StateGroup = pos
	}
	s.listenersMu.RLock()
	for _, f := range s.indexers {
		f(stored)
	}
	s.listenersMu.RUnlock()
	done()
	s.listenersMu.RLock()
	for _, f := range s.listeners {
		f(stored)
	}
	s.listenersMu.RUnlock()
	// The state after it: resolved anew, or the current state unchanged.
	after := maps.Values(state)
	if a.CurrentState != nil {
		after = slices.Values(a.CurrentState)
	}
	if _, server, _ := matrixevents.SplitUserID(ev.Sender()); relay || server == s.serverName {
		s.tellFederated([]StoredEvent{stored}, joinedServers(after))
	}
	s.guestAccessReceived(ctx, e, ev, a.Redacts)
	return out, nil
}

// keepCachedState brings a room's cached entry up to date after a
// received event's Append: when the event left the current state as it
// was (a message on it, or an event not shown), only the room's row
// changed, and the cache takes what Append wrote there; otherwise it is
// reloaded from the store on the next lock, since the current state may
// have been resolved. A busy room's messages then cost no reload of its
// state each.
func keepCachedState(e *roomEntry, a Append, ev matrixevents.Event, shown bool) {
	if a.CurrentState != nil || len(a.Redacts) > 0 || (shown && ev.IsState()) || len(a.Extremities) == 0 {
		e.loaded, e.summary, e.pushRoom = false, nil, nil
		return
	}
	// As Append writes the room's row, and GetRoom reads it back.
	xs := slices.Clone(a.Extremities)
	slices.SortFunc(xs, func(x, y Extremity) int {
		if x.Depth != y.Depth {
			return cmp.Compare(y.Depth, x.Depth)
		}
		return strings.Compare(x.EventID, y.EventID)
	})
	depth := int64(0)
	for _, x := range a.Extremities {
		depth = max(depth, x.Depth)
	}
	e.info.Extremities, e.info.Depth, e.info.StateGroup = xs, depth, a.StateGroup
	e.info.LatestEventID = a.Extremities[0].EventID
	if shown {
		e.info.LatestEventID = ev.EventID()
	}
}

// guestAccessReceived applies G-20 to a received event that sets or
// redacts the room's m.room.guest_access: when the room's current state
// no longer lets guests join, this server's guests leave it (their
// leaves go to the room's servers like any local event). Remote users
// are never treated as guests: only this server's are.
func (s *Service) guestAccessReceived(ctx context.Context, e *roomEntry, ev matrixevents.Event, redacts map[string]string) {
	redacted := ""
	for target := range redacts {
		found, err := s.store.EventsAnyStatus(ctx, []string{target})
		if err != nil {
			s.log.ErrorContext(ctx, "reading a redacted event", "event_id", target, "err", err)
			return
		}
		if se, ok := found[target]; ok && se.Event.Type() == "m.room.guest_access" {
			redacted = target
		}
	}
	if ev.Type() != "m.room.guest_access" && redacted == "" {
		return
	}
	if err := s.loadLocked(ctx, e, ev.RoomID()); err != nil {
		s.log.ErrorContext(ctx, "reloading a room after a guest access change", "room_id", ev.RoomID(), "err", err)
		return
	}
	if err := s.afterStateChange(ctx, e, []matrixevents.Event{ev}, redacted); err != nil {
		s.log.ErrorContext(ctx, "applying a received guest access change", "room_id", ev.RoomID(), "err", err)
	}
}

// receivedOf reports on an event already stored.
func receivedOf(se StoredEvent) Received {
	r := Received{EventID: se.Event.EventID(), Rejected: se.Rejected, SoftFailed: se.SoftFailed}
	if se.StreamPos > 0 {
		r.StreamPos = se.StreamPos
	}
	return r
}

// receiveStatus is the outcome of the auth checks on a received event,
// with the state before it.
type receiveStatus struct {
	Rejected, SoftFailed bool
	stateBefore          map[matrixevents.StateTuple]StoredEvent
	groupBefore          int64
	// groups are state groups to store first (a resolved state before).
	groups []StateGroupWrite
}

func (s *Service) receiveStatus(ctx context.Context, e *roomEntry, ev matrixevents.Event, byID map[string]StoredEvent, given []string) (receiveStatus, error) {
	var st receiveStatus
	// 1. Against its own auth events, none of which may be rejected.
	var authEvents []matrixevents.Event
	for _, id := range ev.AuthEventIDs() {
		authEvents = append(authEvents, byID[id].Event)
	}
	rejectedAuth := slices.ContainsFunc(ev.AuthEventIDs(), func(id string) bool {
		return byID[id].Rejected || byID[id].Event.RoomID() != ev.RoomID()
	})
	if rejectedAuth || !s.allowed(ctx, ev, authEvents) {
		st.Rejected = true
	}
	// 2. Against the state before it.
	var before map[matrixevents.StateTuple]StoredEvent
	var group int64
	var groups []StateGroupWrite
	var err error
	if given != nil {
		before, group, groups, err = s.givenStateGroup(ctx, given, byID)
	} else if onCurrentState(e, ev, byID) {
		// The cache holds that group's state already.
		before, group = e.state, e.info.StateGroup
	} else {
		before, group, groups, err = s.stateAfterAll(ctx, e.info, ev.PrevEventIDs(), byID)
	}
	if err != nil {
		return st, err
	}
	st.stateBefore, st.groupBefore, st.groups = before, group, groups
	if !st.Rejected && !s.allowed(ctx, ev, authEventsFrom(ev, before)) {
		st.Rejected = true
	}
	// 3. Against the current state (across a gap, resolved with the state
	// given for the event).
	current := e.state
	if given != nil && !st.Rejected {
		if current, err = s.currentAcrossGap(ctx, e, before); err != nil {
			return st, err
		}
	}
	if !st.Rejected && !s.allowed(ctx, ev, authEventsFrom(ev, current)) {
		st.SoftFailed = true
	}
	// A redaction of another room's event passes the auth rules (they do
	// not look at the target) but means nothing here: held back like a
	// soft-failed event, so clients never see it, as Synapse withholds it.
	if !st.Rejected && !st.SoftFailed && ev.Type() == matrixevents.TypeRedaction && ev.Redacts() != "" {
		targets, err := s.eventsHeldOrStored(ctx, e, []string{ev.Redacts()})
		if err != nil {
			return st, err
		}
		if t, ok := targets[ev.Redacts()]; ok && t.Event.RoomID() != ev.RoomID() {
			st.SoftFailed = true
		}
	}
	return st, nil
}

// onCurrentState reports whether the state after each of ev's prev_events
// (in byID) is the room's current state, the group its cache holds: as
// for a message following the room's latest event.
func onCurrentState(e *roomEntry, ev matrixevents.Event, byID map[string]StoredEvent) bool {
	if e.info.StateGroup == 0 {
		return false
	}
	for _, id := range ev.PrevEventIDs() {
		if byID[id].StateGroup != e.info.StateGroup {
			return false
		}
	}
	return true
}

// allowed runs the auth rules; an unusable input counts as a refusal.
func (s *Service) allowed(ctx context.Context, ev matrixevents.Event, authEvents []matrixevents.Event) bool {
	err := matrixevents.Authorise(ev, authEvents)
	var na *matrixevents.NotAllowedError
	if err != nil && !errors.As(err, &na) {
		s.log.WarnContext(ctx, "authorising a received event", "event_id", ev.EventID(), "err", err)
	}
	return err == nil
}

// authEventsFrom picks from state the events the auth rules consult for ev.
func authEventsFrom(ev matrixevents.Event, state map[matrixevents.StateTuple]StoredEvent) []matrixevents.Event {
	needed, err := matrixevents.StateNeededForEvents([]matrixevents.Event{ev})
	if err != nil {
		return nil
	}
	var out []matrixevents.Event
	for _, t := range needed {
		if se, ok := state[t]; ok {
			out = append(out, se.Event)
		}
	}
	return out
}

// stateAfterAll is the state after the events ids (all stored, in byID):
// the one group of a single event, or the resolution of several, stored
// as a new group (returned in groups) when it differs from each of theirs.
func (s *Service) stateAfterAll(ctx context.Context, info RoomInfo, ids []string, byID map[string]StoredEvent) (map[matrixevents.StateTuple]StoredEvent, int64, []StateGroupWrite, error) {
	groupIDs := []int64{}
	for _, id := range ids {
		if g := byID[id].StateGroup; !slices.Contains(groupIDs, g) {
			groupIDs = append(groupIDs, g)
		}
	}
	return s.resolveGroups(ctx, info, groupIDs)
}

// resolveGroups is the resolution of the states held by groupIDs, and the
// group that holds it (a new one, to store, when there are several).
func (s *Service) resolveGroups(ctx context.Context, info RoomInfo, groupIDs []int64) (map[matrixevents.StateTuple]StoredEvent, int64, []StateGroupWrite, error) {
	var sets [][]matrixevents.Event
	states := make([]map[matrixevents.StateTuple]StoredEvent, 0, len(groupIDs))
	for _, g := range groupIDs {
		list, err := s.store.StateGroup(ctx, g)
		if err != nil {
			return nil, 0, nil, err
		}
		m := stateMap(list)
		states = append(states, m)
		set := make([]matrixevents.Event, 0, len(list))
		for _, se := range list {
			set = append(set, se.Event)
		}
		sets = append(sets, set)
	}
	if len(groupIDs) == 1 {
		return states[0], groupIDs[0], nil, nil
	}
	chain, rejected, err := s.authChain(ctx, sets)
	if err != nil {
		return nil, 0, nil, err
	}
	resolved, err := matrixevents.ResolveState(info.Version, sets, chain, func(id string) bool { return rejected[id] })
	if err != nil {
		return nil, 0, nil, err
	}
	known := map[string]StoredEvent{}
	for _, st := range states {
		for _, se := range st {
			known[se.Event.EventID()] = se
		}
	}
	out := map[matrixevents.StateTuple]StoredEvent{}
	for _, ev := range resolved {
		out[tupleOf(ev)] = known[ev.EventID()]
	}
	// Stored as a delta on the first state.
	delta := map[matrixevents.StateTuple]string{}
	for k, se := range out {
		if old, ok := states[0][k]; !ok || old.Event.EventID() != se.Event.EventID() {
			delta[k] = se.Event.EventID()
		}
	}
	for k := range states[0] {
		if _, ok := out[k]; !ok {
			delta[k] = ""
		}
	}
	if len(delta) == 0 {
		return out, groupIDs[0], nil, nil
	}
	id, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	done()
	return out, id, []StateGroupWrite{{ID: id, Prev: groupIDs[0], Delta: delta}}, nil
}

func stateMap(list []StoredEvent) map[matrixevents.StateTuple]StoredEvent {
	m := make(map[matrixevents.StateTuple]StoredEvent, len(list))
	for _, se := range list {
		m[tupleOf(se.Event)] = se
	}
	return m
}

// authChain is every event in the auth chains of the events of sets, with
// the IDs of those that are rejected.
func (s *Service) authChain(ctx context.Context, sets [][]matrixevents.Event) ([]matrixevents.Event, map[string]bool, error) {
	seen := map[string]StoredEvent{}
	rejected := map[string]bool{}
	var queue []string
	for _, set := range sets {
		for _, ev := range set {
			queue = append(queue, ev.AuthEventIDs()...)
		}
	}
	for len(queue) > 0 {
		var next []string
		for _, id := range queue {
			if _, ok := seen[id]; !ok && !slices.Contains(next, id) {
				next = append(next, id)
			}
		}
		if len(next) == 0 {
			break
		}
		found, err := s.store.EventsAnyStatus(ctx, next)
		if err != nil {
			return nil, nil, err
		}
		queue = nil
		for _, id := range next {
			se, ok := found[id]
			if !ok {
				return nil, nil, fmt.Errorf("auth chain: event %s is not stored", id)
			}
			seen[id] = se
			queue = append(queue, se.Event.AuthEventIDs()...)
		}
	}
	ids := slices.Sorted(maps.Keys(seen))
	chain := make([]matrixevents.Event, 0, len(ids))
	for _, id := range ids {
		chain = append(chain, seen[id].Event)
		if seen[id].Rejected {
			rejected[id] = true
		}
	}
	return chain, rejected, nil
}

// advanceExtremities makes an accepted event a forward extremity in
// place of its prev_events, and the resolution of the extremities' states
// the room's current state.
func (s *Service) advanceExtremities(ctx context.Context, e *roomEntry, ev matrixevents.Event, pe PersistEvent, a *Append) error {
	covered, err := s.coveredExtremities(ctx, e, ev.PrevEventIDs())
	if err != nil {
		return err
	}
	xs := []Extremity{{EventID: ev.EventID(), Depth: ev.Depth()}}
	for _, x := range e.info.Extremities {
		if !covered[x.EventID] {
			xs = append(xs, x)
		}
	}
	a.Extremities = xs
	groupAfter := pe.StateBefore
	if ev.IsState() {
		groupAfter = pe.StreamPos
	}
	if len(xs) == 1 {
		if groupAfter == e.info.StateGroup {
			return nil // A message on the current state.
		}
		a.StateGroup = groupAfter
		state, err := s.stateWithPending(ctx, groupAfter, ev, pe, a.StateGroups)
		if err != nil {
			return err
		}
		a.CurrentState = state
		return nil
	}
	// Several extremities: the others' groups are stored; this event's
	// may not be yet, so its state is resolved from its parts.
	var others []int64
	ids := make([]string, 0, len(xs)-1)
	for _, x := range xs[1:] {
		ids = append(ids, x.EventID)
	}
	byID, err := s.eventsHeldOrStored(ctx, e, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if g := byID[id].StateGroup; !slices.Contains(others, g) {
			others = append(others, g)
		}
	}
	mine, err := s.stateWithPending(ctx, groupAfter, ev, pe, a.StateGroups)
	if err != nil {
		return err
	}
	var sets [][]matrixevents.Event
	known := map[string]StoredEvent{}
	addSet := func(list []StoredEvent) {
		set := make([]matrixevents.Event, 0, len(list))
		for _, se := range list {
			set = append(set, se.Event)
			known[se.Event.EventID()] = se
		}
		sets = append(sets, set)
	}
	addSet(mine)
	for _, g := range others {
		list, err := s.store.StateGroup(ctx, g)
		if err != nil {
			return err
		}
		addSet(list)
	}
	chain, rejected, err := s.authChain(ctx, sets)
	if err != nil {
		return err
	}
	resolved, err := matrixevents.ResolveState(e.info.Version, sets, chain, func(id string) bool { return rejected[id] })
	if err != nil {
		return err
	}
	current := make([]StoredEvent, 0, len(resolved))
	delta := map[matrixevents.StateTuple]string{}
	mineByKey := stateMap(mine)
	for _, r := range resolved {
		current = append(current, known[r.EventID()])
		if old, ok := mineByKey[tupleOf(r)]; !ok || old.Event.EventID() != r.EventID() {
			delta[tupleOf(r)] = r.EventID()
		}
	}
	for k := range mineByKey {
		if !slices.ContainsFunc(resolved, func(r matrixevents.Event) bool { return tupleOf(r) == k }) {
			delta[k] = ""
		}
	}
	a.CurrentState = current
	if len(delta) == 0 {
		a.StateGroup = groupAfter
		return nil
	}
	// The resolved state is a group of its own, a delta on the event's
	// (stored after the event, which may make that one).
	id, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return err
	}
	done()
	a.StateGroup = id
	a.AfterGroups = []StateGroupWrite{{ID: id, Prev: groupAfter, Delta: delta}}
	return nil
}

// stateWithPending is the state held by group, which is either stored or
// the one the event pe is about to make (its state before plus itself).
func (s *Service) stateWithPending(ctx context.Context, group int64, ev matrixevents.Event, pe PersistEvent, pending []StateGroupWrite) ([]StoredEvent, error) {
	if !ev.IsState() || group != pe.StreamPos {
		if slices.ContainsFunc(pending, func(g StateGroupWrite) bool { return g.ID == group }) {
			return s.pendingState(ctx, group, pending)
		}
		return s.store.StateGroup(ctx, group)
	}
	var before []StoredEvent
	var err error
	if slices.ContainsFunc(pending, func(g StateGroupWrite) bool { return g.ID == pe.StateBefore }) {
		before, err = s.pendingState(ctx, pe.StateBefore, pending)
	} else {
		before, err = s.store.StateGroup(ctx, pe.StateBefore)
	}
	if err != nil {
		return nil, err
	}
	m := stateMap(before)
	m[tupleOf(ev)] = StoredEvent{Event: ev, StreamPos: pe.StreamPos, HistoryVisibility: pe.HistoryVisibility, ReplacesState: pe.ReplacesState, StateGroup: pe.StreamPos}
	return slices.Collect(maps.Values(m)), nil
}

// pendingState is the state of a group about to be stored: its delta on a
// stored group.
func (s *Service) pendingState(ctx context.Context, group int64, pending []StateGroupWrite) ([]StoredEvent, error) {
	i := slices.IndexFunc(pending, func(g StateGroupWrite) bool { return g.ID == group })
	g := pending[i]
	base, err := s.store.StateGroup(ctx, g.Prev)
	if err != nil {
		return nil, err
	}
	m := stateMap(base)
	var add []string
	for k, id := range g.Delta {
		if id == "" {
			delete(m, k)
		} else {
			add = append(add, id)
		}
	}
	found, err := s.store.EventsAnyStatus(ctx, add)
	if err != nil {
		return nil, err
	}
	for k, id := range g.Delta {
		if id != "" {
			m[k] = found[id]
		}
	}
	return slices.Collect(maps.Values(m)), nil
}

// receivedRedaction is what an accepted redaction redacts: its target, if
// stored in the room and not yet redacted, when the sender may redact it
// — the target's sender is of the redaction sender's server, or the
// sender's power level reaches the room's redact level (the auth rules of
// room versions 3 and later leave this check to the time it is applied).
func (s *Service) receivedRedaction(ctx context.Context, e *roomEntry, ev matrixevents.Event, stateBefore map[matrixevents.StateTuple]StoredEvent) (map[string]string, error) {
	if ev.Type() != matrixevents.TypeRedaction || ev.Redacts() == "" {
		return nil, nil
	}
	targets, err := s.eventsHeldOrStored(ctx, e, []string{ev.Redacts()})
	if err != nil {
		return nil, err
	}
	target, ok := targets[ev.Redacts()]
	if !ok || target.Event.RoomID() != ev.RoomID() || target.RedactedBy != "" {
		return nil, nil
	}
	_, senderServer, _ := matrixevents.SplitUserID(ev.Sender())
	_, targetServer, _ := matrixevents.SplitUserID(target.Event.Sender())
	if senderServer != targetServer {
		pl := parsePowerLevels(RoomSnapshot{State: stateBefore})
		if pl.userLevel(ev.Sender()) < pl.Redact {
			return nil, nil
		}
	}
	return map[string]string{ev.Redacts(): ev.EventID()}, nil
}
