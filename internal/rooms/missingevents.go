package rooms

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"foyer/internal/federationclient"
	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// Bounds on filling a gap before an event of another server.
const (
	// missingEventsLimit is what get_missing_events asks for.
	missingEventsLimit = 10
	// DefaultFetchBudget is the most events one inbound transaction may
	// make this server fetch from its origin.
	DefaultFetchBudget = 200
	// fetchTime bounds the time one transaction (or one backfill) spends
	// fetching events.
	fetchTime = 60 * time.Second
	// maxMissingPrevs: an event citing more prev_events this server does
	// not have is not chased.
	maxMissingPrevs = 10
	// stateByIDsUpTo: when more events of a state are missing, the whole
	// state is asked for (/state) instead of each event (/event).
	stateByIDsUpTo = 20
)

// remoteDAG is how the room service reaches other servers for events.
type remoteDAG struct {
	client *federationclient.Client
	keys   matrixevents.EventKeyLookup
}

// SetFederation lets the service reach other servers through client,
// checking the signatures of the events they answer with keys' keys: to
// join its users to their rooms, and to fetch missing prev_events of
// received events and backfill. Without it every join is local, and
// Receive's rules hold: an event whose prev_events are not stored is
// refused.
func (s *Service) SetFederation(client *federationclient.Client, keys matrixevents.EventKeyLookup) {
	s.dag = &remoteDAG{client: client, keys: keys}
	s.joins, s.eventKeys = client, keys
}

// FetchBudget is how many events the PDUs of one transaction may still
// make this server fetch, and until when; one transaction's PDUs are
// handled one at a time, so it is not locked.
type FetchBudget struct {
	left     int
	deadline time.Time
}

// NewFetchBudget is a budget of n events, to be fetched within fetchTime
// from now.
func NewFetchBudget(n int) *FetchBudget {
	return &FetchBudget{left: n, deadline: time.Now().Add(fetchTime)}
}

func (b *FetchBudget) take(n int) error {
	if n > b.left {
		return fmt.Errorf("filling the gap needs %d more events than this transaction may fetch (%d left)", n, b.left)
	}
	b.left -= n
	return nil
}

// ReceiveFrom is Receive for an event origin sent, which may cite
// prev_events this server does not have. It asks origin for them
// (get_missing_events, from this server's forward extremities to the
// event) and receives those oldest first; an event whose prev_events are
// still missing — the answer did not reach what this server has — is
// received on the state before it that origin gives (/state_ids at each
// missing prev_event, the events not stored fetched with /event and kept
// as outliers). Auth events it lacks come from origin's /event_auth, as
// outliers too. No room lock is held during these calls; budget bounds
// the events fetched and the time spent.
func (s *Service) ReceiveFrom(ctx context.Context, origin string, ev matrixevents.Event, budget *FetchBudget) (Received, error) {
	return s.receiveFrom(ctx, origin, ev, budget, nil, true)
}

// ReceiveFromBatched is ReceiveFrom for an event a transaction pushed,
// within a batch (see ReceiveBatch), which may hold the event unwritten
// until it is flushed; an event whose gap needs filling is received on
// its own. Unlike the events get_missing_events brings, a pushed event
// whose prev_events are still missing after it is refused, as Synapse
// does: its sender withholds them, and the state it would give for them
// is not taken on its word.
func (s *Service) ReceiveFromBatched(ctx context.Context, origin string, ev matrixevents.Event, budget *FetchBudget, b *ReceiveBatch) (Received, error) {
	return s.receiveFrom(ctx, origin, ev, budget, b, false)
}

func (s *Service) receiveFrom(ctx context.Context, origin string, ev matrixevents.Event, budget *FetchBudget, b *ReceiveBatch, stateForGap bool) (Received, error) {
	found, err := s.eventsHeldOrStoredUnlocked(ctx, ev.RoomID(), slices.Concat([]string{ev.EventID()}, ev.PrevEventIDs(), ev.AuthEventIDs()))
	if err != nil {
		return Received{}, err
	}
	missing := missingPrevsIn(ev, found)
	if s.dag == nil || budget == nil {
		return s.receive(ctx, ev, nil, false, b)
	}
	if len(missing) == 0 && !lacksAuthEventsIn(ev, found) {
		return s.receive(ctx, ev, nil, false, b)
	}
	// The batch's held events are written first: their reserved stream
	// positions must not wait on another server.
	if b != nil {
		b.Flush(ctx)
	}
	// Only a gap runs against the transaction's deadline.
	ctx, cancel := context.WithDeadline(ctx, budget.deadline)
	defer cancel()
	if len(missing) > 0 {
		pulled, err := s.pullMissing(ctx, origin, ev, budget)
		if err != nil {
			s.log.InfoContext(ctx, "asking for missing events", "origin", origin, "event_id", ev.EventID(), "err", err)
		}
		for _, p := range pulled {
			if _, err := s.receivePulled(ctx, origin, p, budget); err != nil {
				s.log.InfoContext(ctx, "receiving a missing event", "origin", origin, "event_id", p.EventID(), "err", err)
			}
		}
		if !stateForGap {
			if still, err := s.missingPrevs(ctx, ev); err != nil {
				return Received{}, err
			} else if len(still) > 0 {
				return Received{}, refusal.New(refusal.Forbidden, "event %s follows %s, which %s did not give when asked", ev.EventID(), strings.Join(still, ", "), origin)
			}
		}
	}
	return s.receivePulled(ctx, origin, ev, budget)
}

// missingPrevs are those of ev's prev_events not stored, or stored only
// as outliers, whose state is not known (none when ev itself is stored,
// other than as an outlier).
func (s *Service) missingPrevs(ctx context.Context, ev matrixevents.Event) ([]string, error) {
	found, err := s.store.EventsAnyStatus(ctx, append([]string{ev.EventID()}, ev.PrevEventIDs()...))
	if err != nil {
		return nil, err
	}
	return missingPrevsIn(ev, found), nil
}

// missingPrevsIn is missingPrevs with found holding what the store has of
// ev and its prev_events.
func missingPrevsIn(ev matrixevents.Event, found map[string]StoredEvent) []string {
	if se, ok := found[ev.EventID()]; ok && !se.Outlier {
		return nil
	}
	var out []string
	for _, id := range ev.PrevEventIDs() {
		if se, ok := found[id]; (!ok || se.Outlier) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// pullMissing asks origin for the events between this server's forward
// extremities and ev, and returns those that check, oldest first.
func (s *Service) pullMissing(ctx context.Context, origin string, ev matrixevents.Event, budget *FetchBudget) ([]matrixevents.Event, error) {
	info, err := s.store.GetRoom(ctx, ev.RoomID())
	if err != nil {
		return nil, err
	}
	earliest := make([]string, 0, len(info.Extremities))
	for _, x := range info.Extremities {
		earliest = append(earliest, x.EventID)
	}
	minDepth := int64(0)
	if first, err := s.store.TopoEvents(ctx, ev.RoomID(), TopoPos{Stream: math.MinInt64}, topoEnd, false, 1, EventFilter{}); err != nil {
		return nil, err
	} else if len(first) == 1 {
		minDepth = first[0].Event.Depth()
	}
	if err := budget.take(missingEventsLimit); err != nil {
		return nil, err
	}
	raws, err := s.dag.client.MissingEvents(ctx, origin, ev.RoomID(), federationclient.MissingEventsRequest{
		EarliestEvents: earliest, LatestEvents: []string{ev.EventID()}, Limit: missingEventsLimit, MinDepth: minDepth})
	if err != nil {
		return nil, err
	}
	var events []matrixevents.Event
	for _, raw := range raws[:min(len(raws), missingEventsLimit)] {
		p, err := s.checkFetched(ctx, info.Version, ev.RoomID(), raw)
		if err != nil {
			s.log.InfoContext(ctx, "dropping a missing event", "origin", origin, "err", err)
			continue
		}
		if p.EventID() != ev.EventID() && !slices.ContainsFunc(events, func(o matrixevents.Event) bool { return o.EventID() == p.EventID() }) {
			events = append(events, p)
		}
	}
	return topological(events), nil
}

// checkFetched parses an event another server sent for roomID and checks
// its signatures.
func (s *Service) checkFetched(ctx context.Context, version, roomID string, raw json.RawMessage) (matrixevents.Event, error) {
	ev, err := matrixevents.ParseUntrusted(version, raw)
	if err != nil {
		return matrixevents.Event{}, err
	}
	if ev.RoomID() != roomID {
		return matrixevents.Event{}, fmt.Errorf("event %s is for room %s, not %s", ev.EventID(), ev.RoomID(), roomID)
	}
	if err := matrixevents.VerifyEventSignatures(ctx, ev, s.dag.keys); err != nil {
		return matrixevents.Event{}, fmt.Errorf("event %s: %w", ev.EventID(), err)
	}
	return ev, nil
}

// topological orders events so that each comes after those of its
// prev_events among them (depth, then event ID, among the ready ones).
func topological(events []matrixevents.Event) []matrixevents.Event {
	in := map[string]bool{}
	for _, ev := range events {
		in[ev.EventID()] = true
	}
	done := map[string]bool{}
	out := make([]matrixevents.Event, 0, len(events))
	rest := slices.Clone(events)
	slices.SortFunc(rest, func(a, b matrixevents.Event) int {
		return cmp.Or(cmp.Compare(a.Depth(), b.Depth()), strings.Compare(a.EventID(), b.EventID()))
	})
	for len(rest) > 0 {
		i := slices.IndexFunc(rest, func(ev matrixevents.Event) bool {
			return !slices.ContainsFunc(ev.PrevEventIDs(), func(p string) bool { return in[p] && !done[p] })
		})
		if i < 0 {
			i = 0 // A cycle, which signed events cannot form: keep depth order.
		}
		done[rest[i].EventID()] = true
		out = append(out, rest[i])
		rest = slices.Delete(rest, i, i+1)
	}
	return out
}

// receivePulled receives ev, on the state origin gives for its missing
// prev_events when some are not stored.
func (s *Service) receivePulled(ctx context.Context, origin string, ev matrixevents.Event, budget *FetchBudget) (Received, error) {
	if err := s.fetchMissingAuth(ctx, origin, ev, budget); err != nil {
		return Received{}, refusal.New(refusal.NotFound, "event %s has auth events this server does not have and could not fetch from %s: %v", ev.EventID(), origin, err)
	}
	missing, err := s.missingPrevs(ctx, ev)
	if err != nil {
		return Received{}, err
	}
	if len(missing) == 0 {
		return s.Receive(ctx, ev)
	}
	state, err := s.stateFromRemote(ctx, origin, ev, missing, budget)
	if err != nil {
		return Received{}, refusal.New(refusal.NotFound, "event %s refers to events this server does not have and could not fetch from %s: %v", ev.EventID(), origin, err)
	}
	return s.receive(ctx, ev, state, false, nil)
}

// fetchMissingAuth stores, as outliers, the auth events of ev that this
// server does not have, from origin's /event_auth (ev's whole auth
// chain, the events not stored kept) or, when origin does not answer
// that, one by one from its /event.
func (s *Service) fetchMissingAuth(ctx context.Context, origin string, ev matrixevents.Event, budget *FetchBudget) error {
	if lacking, err := s.lacksAuthEvents(ctx, ev); err != nil || !lacking {
		return err
	}
	var chain []matrixevents.Event
	raws, err := s.dag.client.EventAuth(ctx, origin, ev.RoomID(), ev.EventID())
	if err != nil {
		if chain, err = s.fetchAuthEventByEvent(ctx, origin, ev, budget); err != nil {
			return err
		}
	}
	for _, raw := range raws {
		a, err := s.checkFetched(ctx, ev.Version(), ev.RoomID(), raw)
		if err != nil {
			s.log.InfoContext(ctx, "dropping a fetched auth event", "origin", origin, "err", err)
			continue
		}
		chain = append(chain, a)
	}
	ids := make([]string, 0, len(chain))
	for _, a := range chain {
		ids = append(ids, a.EventID())
	}
	stored, err := s.store.EventsAnyStatus(ctx, ids)
	if err != nil {
		return err
	}
	chain = slices.DeleteFunc(chain, func(a matrixevents.Event) bool { _, ok := stored[a.EventID()]; return ok })
	if err := budget.take(len(chain)); err != nil {
		return err
	}
	return s.storeOutliers(ctx, ev.RoomID(), chain)
}

// fetchAuthEventByEvent gets from origin's /event the auth events of ev
// this server does not have, and theirs in turn, within budget: for a
// server that does not serve /event_auth.
func (s *Service) fetchAuthEventByEvent(ctx context.Context, origin string, ev matrixevents.Event, budget *FetchBudget) ([]matrixevents.Event, error) {
	var chain []matrixevents.Event
	seen := map[string]bool{}
	wanted := ev.AuthEventIDs()
	for len(wanted) > 0 {
		stored, err := s.store.EventsAnyStatus(ctx, wanted)
		if err != nil {
			return nil, err
		}
		var next []string
		for _, id := range wanted {
			if _, ok := stored[id]; ok || seen[id] {
				continue
			}
			seen[id] = true
			if err := budget.take(1); err != nil {
				return nil, err
			}
			fetched, err := s.fetchEvents(ctx, origin, ev.Version(), ev.RoomID(), "", []string{id})
			if err != nil {
				return nil, err
			}
			if len(fetched) != 1 {
				return nil, fmt.Errorf("%s gave no usable auth event %s", origin, id)
			}
			chain = append(chain, fetched[0])
			next = append(next, fetched[0].AuthEventIDs()...)
		}
		wanted = next
	}
	return chain, nil
}

// lacksAuthEvents reports whether ev, not stored, names auth events this
// server does not have.
func (s *Service) lacksAuthEvents(ctx context.Context, ev matrixevents.Event) (bool, error) {
	found, err := s.store.EventsAnyStatus(ctx, append([]string{ev.EventID()}, ev.AuthEventIDs()...))
	if err != nil {
		return false, err
	}
	return lacksAuthEventsIn(ev, found), nil
}

// lacksAuthEventsIn is lacksAuthEvents with found holding what the store
// has of ev and its auth events.
func lacksAuthEventsIn(ev matrixevents.Event, found map[string]StoredEvent) bool {
	if _, ok := found[ev.EventID()]; ok {
		return false
	}
	return slices.ContainsFunc(ev.AuthEventIDs(), func(id string) bool { _, ok := found[id]; return !ok })
}

// stateFromRemote is the state before ev (event IDs, all stored when it
// returns): the state after each of its prev_events, stored ones from
// their state groups and missing ones from origin, resolved when they
// are several.
func (s *Service) stateFromRemote(ctx context.Context, origin string, ev matrixevents.Event, missing []string, budget *FetchBudget) ([]string, error) {
	if len(missing) > maxMissingPrevs {
		return nil, fmt.Errorf("%d missing prev_events, more than %d", len(missing), maxMissingPrevs)
	}
	info, err := s.store.GetRoom(ctx, ev.RoomID())
	if err != nil {
		return nil, err
	}
	var sets [][]matrixevents.Event
	for _, p := range missing {
		set, err := s.remoteStateAfter(ctx, origin, info.Version, ev.RoomID(), p, budget)
		if err != nil {
			return nil, err
		}
		sets = append(sets, set)
	}
	known, err := s.store.EventsAnyStatus(ctx, ev.PrevEventIDs())
	if err != nil {
		return nil, err
	}
	var groups []int64
	for _, se := range known {
		if !se.Outlier && !slices.Contains(groups, se.StateGroup) {
			groups = append(groups, se.StateGroup)
		}
	}
	for _, g := range groups {
		list, err := s.store.StateGroup(ctx, g)
		if err != nil {
			return nil, err
		}
		set := make([]matrixevents.Event, 0, len(list))
		for _, se := range list {
			set = append(set, se.Event)
		}
		sets = append(sets, set)
	}
	resolved := sets[0]
	if len(sets) > 1 {
		chain, rejected, err := s.authChain(ctx, sets)
		if err != nil {
			return nil, err
		}
		resolved, err = matrixevents.ResolveState(info.Version, sets, chain, func(id string) bool { return rejected[id] })
		if err != nil {
			return nil, err
		}
	}
	ids := make([]string, 0, len(resolved))
	for _, r := range resolved {
		ids = append(ids, r.EventID())
	}
	return ids, nil
}

// remoteStateAfter is the state after the event prev as origin has it:
// the state before it (/state_ids) and, for a state event, prev itself.
// The events of that state and its auth chain that are not stored are
// fetched and stored as outliers, prev with them.
func (s *Service) remoteStateAfter(ctx context.Context, origin, version, roomID, prev string, budget *FetchBudget) ([]matrixevents.Event, error) {
	ids, err := s.dag.client.StateIDs(ctx, origin, roomID, prev)
	if err != nil {
		return nil, err
	}
	wanted := slices.Concat([]string{prev}, ids.PDUIDs, ids.AuthChainIDs)
	slices.Sort(wanted)
	wanted = slices.Compact(wanted)
	stored, err := s.store.EventsAnyStatus(ctx, wanted)
	if err != nil {
		return nil, err
	}
	var unknown []string
	for _, id := range wanted {
		if _, ok := stored[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	if err := budget.take(len(unknown)); err != nil {
		return nil, err
	}
	fetched, err := s.fetchEvents(ctx, origin, version, roomID, prev, unknown)
	if err != nil {
		return nil, err
	}
	// prev itself is kept only when it is part of the state: a message
	// stays missing, for backfill to put in the timeline.
	fetched = slices.DeleteFunc(fetched, func(ev matrixevents.Event) bool {
		return ev.EventID() == prev && !ev.IsState() && !slices.Contains(ids.AuthChainIDs, prev)
	})
	if err := s.storeOutliers(ctx, roomID, fetched); err != nil {
		return nil, err
	}
	all, err := s.store.EventsAnyStatus(ctx, append(slices.Clone(ids.PDUIDs), prev))
	if err != nil {
		return nil, err
	}
	state := map[matrixevents.StateTuple]matrixevents.Event{}
	for _, id := range ids.PDUIDs {
		se, ok := all[id]
		if !ok {
			return nil, fmt.Errorf("%s gave no usable event %s of the state at %s", origin, id, prev)
		}
		if !se.Event.IsState() {
			return nil, fmt.Errorf("%s gave %s, which is not a state event, in the state at %s", origin, id, prev)
		}
		if !se.Rejected {
			state[tupleOf(se.Event)] = se.Event
		}
	}
	if p, ok := all[prev]; ok && p.Event.IsState() && !p.Rejected {
		state[tupleOf(p.Event)] = p.Event
	}
	return slices.Collect(maps.Values(state)), nil
}

// fetchEvents gets the events ids from origin: one by one (/event), or,
// when they are many, as the whole state at prev (/state), keeping those
// asked for that check.
func (s *Service) fetchEvents(ctx context.Context, origin, version, roomID, prev string, ids []string) ([]matrixevents.Event, error) {
	var raws []json.RawMessage
	if len(ids) > stateByIDsUpTo {
		st, err := s.dag.client.State(ctx, origin, roomID, prev)
		if err != nil {
			return nil, err
		}
		raws = slices.Concat(st.PDUs, st.AuthChain)
		if slices.Contains(ids, prev) {
			t, err := s.dag.client.Event(ctx, origin, prev)
			if err != nil {
				return nil, err
			}
			raws = append(raws, t.PDUs...)
		}
	} else {
		for _, id := range ids {
			t, err := s.dag.client.Event(ctx, origin, id)
			if err != nil {
				return nil, fmt.Errorf("event %s: %w", id, err)
			}
			if len(t.PDUs) != 1 {
				return nil, fmt.Errorf("event %s: %d PDUs in the answer", id, len(t.PDUs))
			}
			raws = append(raws, t.PDUs[0])
		}
	}
	var out []matrixevents.Event
	for _, raw := range raws {
		ev, err := s.checkFetched(ctx, version, roomID, raw)
		if err != nil {
			// Left out: a state event missing from the state fails it.
			s.log.InfoContext(ctx, "dropping a fetched event", "origin", origin, "err", err)
			continue
		}
		if slices.Contains(ids, ev.EventID()) && !slices.ContainsFunc(out, func(o matrixevents.Event) bool { return o.EventID() == ev.EventID() }) {
			out = append(out, ev)
		}
	}
	return out, nil
}

// currentAcrossGap is the "current state" an event after a gap is
// soft-fail checked against, as Synapse does: the resolution of the
// room's current state and the state given before the event. This server
// may have missed, say, a join in the gap, which the given state holds,
// while a gap is easily made up, so a ban here still counts.
func (s *Service) currentAcrossGap(ctx context.Context, e *roomEntry, before map[matrixevents.StateTuple]StoredEvent) (map[matrixevents.StateTuple]StoredEvent, error) {
	known := map[string]StoredEvent{}
	var sets [][]matrixevents.Event
	for _, st := range []map[matrixevents.StateTuple]StoredEvent{e.state, before} {
		set := make([]matrixevents.Event, 0, len(st))
		for _, se := range st {
			set = append(set, se.Event)
			known[se.Event.EventID()] = se
		}
		sets = append(sets, set)
	}
	chain, rejected, err := s.authChain(ctx, sets)
	if err != nil {
		return nil, err
	}
	resolved, err := matrixevents.ResolveState(e.info.Version, sets, chain, func(id string) bool { return rejected[id] })
	if err != nil {
		return nil, err
	}
	out := make(map[matrixevents.StateTuple]StoredEvent, len(resolved))
	for _, r := range resolved {
		out[tupleOf(r)] = known[r.EventID()]
	}
	return out, nil
}

// givenStateGroup is the state made of the stored events ids (in byID),
// rejected ones left out, as a new full state group to store.
func (s *Service) givenStateGroup(ctx context.Context, ids []string, byID map[string]StoredEvent) (map[matrixevents.StateTuple]StoredEvent, int64, []StateGroupWrite, error) {
	state := map[matrixevents.StateTuple]StoredEvent{}
	delta := map[matrixevents.StateTuple]string{}
	for _, id := range ids {
		se := byID[id]
		if se.Rejected || !se.Event.IsState() {
			continue
		}
		state[tupleOf(se.Event)] = se
		delta[tupleOf(se.Event)] = id
	}
	id, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	done()
	return state, id, []StateGroupWrite{{ID: id, Delta: delta}}, nil
}
