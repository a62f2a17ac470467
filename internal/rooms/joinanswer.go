package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"foyer/internal/federationclient"
	"foyer/internal/rooms/matrixevents"
)

// joinedRemote is a send_join answer that passed the checks: the room's
// state before the join, every event of that state and its auth chain
// (those failing the auth rules marked rejected), and the join itself.
type joinedRemote struct {
	version  string
	join     matrixevents.Event
	state    map[matrixevents.StateTuple]matrixevents.Event
	events   map[string]matrixevents.Event
	rejected map[string]bool
}

// checkJoinAnswer checks a send_join answer as the spec orders: every
// event of the state and auth chain parses for the room's version, is of
// the room and carries its servers' signatures (those that do not are
// dropped); each is authorised against its own auth events (those that
// fail are kept as rejected and leave the state); the state has the
// room's create event, of the version make_join gave; and the join —
// the answer's copy when it has one, which may carry more signatures —
// is ours and allowed by that state.
func (s *Service) checkJoinAnswer(ctx context.Context, version, roomID string, ours matrixevents.Event, ans federationclient.SendJoinAnswer) (joinedRemote, error) {
	out := joinedRemote{version: version, join: ours, state: map[matrixevents.StateTuple]matrixevents.Event{},
		events: map[string]matrixevents.Event{}, rejected: map[string]bool{}}
	var stateIDs []string
	parse := func(raw json.RawMessage) (matrixevents.Event, bool) {
		ev, err := matrixevents.ParseUntrusted(version, raw)
		if err != nil || ev.RoomID() != roomID {
			return matrixevents.Event{}, false
		}
		if seen, ok := out.events[ev.EventID()]; ok {
			// In both lists (the state is part of its auth chain): checked once.
			return seen, true
		}
		if err := matrixevents.VerifyEventSignatures(ctx, ev, s.eventKeys); err != nil {
			s.log.DebugContext(ctx, "dropping an event of a join's answer", "event_id", ev.EventID(), "err", err)
			return matrixevents.Event{}, false
		}
		return ev, true
	}
	for _, raw := range ans.State {
		if ev, ok := parse(raw); ok && ev.IsState() {
			out.events[ev.EventID()] = ev
			stateIDs = append(stateIDs, ev.EventID())
		}
	}
	for _, raw := range ans.AuthChain {
		if ev, ok := parse(raw); ok {
			out.events[ev.EventID()] = ev
		}
	}
	checked := map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(out.events)) {
		s.authoriseInChain(id, out.events, checked, out.rejected, 0)
	}
	for _, id := range stateIDs {
		if out.rejected[id] {
			continue
		}
		ev := out.events[id]
		if _, dup := out.state[tupleOf(ev)]; !dup {
			out.state[tupleOf(ev)] = ev
		}
	}
	create, ok := out.state[matrixevents.StateTuple{Type: matrixevents.TypeCreate}]
	if !ok {
		return out, fmt.Errorf("the answer's state has no valid create event")
	}
	var cc struct {
		RoomVersion string `json:"room_version"`
	}
	_ = json.Unmarshal(create.Content(), &cc)
	if cc.RoomVersion == "" {
		cc.RoomVersion = "1"
	}
	if cc.RoomVersion != version {
		return out, fmt.Errorf("the room's create event says version %s, make_join said %s", cc.RoomVersion, version)
	}
	if len(ans.Event) == 0 && joinAuthoriser(ours) != "" {
		// The resident server's signature is on its copy only.
		return out, fmt.Errorf("the answer lacks the restricted join signed by its authorising server")
	}
	if len(ans.Event) > 0 {
		theirs, ok := parse(ans.Event)
		if !ok || theirs.EventID() != ours.EventID() {
			return out, fmt.Errorf("the answer's join event is not the one sent")
		}
		out.join = theirs
	}
	if err := matrixevents.Authorise(out.join, authEventsFrom(out.join, storedState(out.state))); err != nil {
		return out, fmt.Errorf("the room's state does not allow the join: %w", err)
	}
	return out, nil
}

// maxAuthDepth bounds the recursion through auth events: a chain deeper
// than this is refused rather than followed.
const maxAuthDepth = 10000

// authoriseInChain runs the auth rules on events[id] against its own auth
// events, checking those first; an event whose auth events are missing,
// rejected or refuse it is rejected.
func (s *Service) authoriseInChain(id string, events map[string]matrixevents.Event, checked, rejected map[string]bool, depth int) {
	if checked[id] {
		return
	}
	checked[id] = true
	ev := events[id]
	if depth > maxAuthDepth {
		rejected[id] = true
		return
	}
	var auth []matrixevents.Event
	for _, aid := range ev.AuthEventIDs() {
		a, ok := events[aid]
		if !ok {
			rejected[id] = true
			return
		}
		s.authoriseInChain(aid, events, checked, rejected, depth+1)
		if rejected[aid] {
			rejected[id] = true
			return
		}
		auth = append(auth, a)
	}
	// Room versions that leave the create event out of auth_events
	// (v12) still authorise against it.
	if ev.Type() != matrixevents.TypeCreate && !slices.ContainsFunc(auth, isCreate) {
		createID := "$" + strings.TrimPrefix(ev.RoomID(), "!")
		if c, ok := events[createID]; ok {
			auth = append(auth, c)
		}
	}
	if !s.allowed(context.Background(), ev, auth) {
		rejected[id] = true
	}
}

func isCreate(ev matrixevents.Event) bool { return ev.Type() == matrixevents.TypeCreate }

// storedState wraps events as StoredEvents for the helpers that read
// state maps.
func storedState(state map[matrixevents.StateTuple]matrixevents.Event) map[matrixevents.StateTuple]StoredEvent {
	out := make(map[matrixevents.StateTuple]StoredEvent, len(state))
	for k, ev := range state {
		out[k] = StoredEvent{Event: ev}
	}
	return out
}
