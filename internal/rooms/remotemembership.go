package rooms

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// MembershipTemplate is the unsigned membership event (join or leave) of
// a user of another server that the room's current state and forward
// extremities call for: what make_join and make_leave answer, for the
// user's server to sign and send back. A membership the auth rules would
// refuse against current state is refused (Forbidden), and so is the
// leave of a user who is not in the room. The room's
// version comes with it.
func (s *Service) MembershipTemplate(ctx context.Context, roomID, userID, membership string) (json.RawMessage, string, error) {
	e, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return nil, "", err
	}
	defer e.mu.Unlock()
	_, server, ok := matrixevents.SplitUserID(userID)
	if !ok {
		return nil, "", refusal.New(refusal.BadJSON, "%q is not a user ID", userID)
	}
	// The auth rules let a leave follow a leave; a user who is not in the
	// room has nothing to leave.
	if membership == "leave" {
		current := ""
		if se, ok := e.state[matrixevents.StateTuple{Type: matrixevents.TypeMember, StateKey: userID}]; ok {
			current = se.Event.Membership()
		}
		if !slices.Contains([]string{"join", "invite", "knock"}, current) {
			return nil, "", refusal.New(refusal.Forbidden, "%s is not in room %s", userID, roomID)
		}
	}
	content := map[string]any{"membership": membership}
	if membership == "join" {
		// A restricted room: a user of this server vouches for the join,
		// if the joining user meets the conditions (restrictedjoin.go).
		via, err := s.restrictedJoinAuthoriser(ctx, RoomSnapshot{Info: e.info, State: e.state}, userID)
		if err != nil {
			return nil, "", err
		}
		if via != "" {
			content["join_authorised_via_users_server"] = via
		}
	}
	proto := matrixevents.ProtoEvent{
		RoomVersion: e.info.Version, RoomID: e.info.RoomID, Sender: userID,
		Type: matrixevents.TypeMember, StateKey: &userID,
		Content: content,
		Origin:  server, Timestamp: s.now(),
	}
	linkToExtremities(&proto, e.info.Extremities)
	needed, err := matrixevents.StateNeededForAuth(proto)
	if err != nil {
		return nil, "", refusal.New(refusal.BadJSON, "%v", err)
	}
	var authEvents []matrixevents.Event
	for _, t := range needed {
		if se, ok := e.state[t]; ok {
			proto.AuthEventIDs = append(proto.AuthEventIDs, se.Event.EventID())
			authEvents = append(authEvents, se.Event)
		}
	}
	// Built with this server's key only to run the auth rules on it; the
	// hashes and signatures are the user's server's to add.
	ev, err := matrixevents.BuildEvent(proto, s.key)
	if err != nil {
		return nil, "", refusal.New(refusal.BadJSON, "cannot build the event: %v", err)
	}
	if err := matrixevents.Authorise(ev, authEvents); err != nil {
		return nil, "", AsError(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(ev.JSON(), &fields); err != nil {
		return nil, "", err
	}
	for _, k := range []string{"event_id", "hashes", "signatures", "unsigned"} {
		delete(fields, k)
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, "", err
	}
	return out, e.info.Version, nil
}

// StateAtEvent is the room state before a stored event, the auth chain
// of that state and of the event, and the servers with a joined member in
// that state: what send_join answers.
type StateAtEvent struct {
	State     []matrixevents.Event
	AuthChain []matrixevents.Event
	Servers   []string
}

// StateBefore returns the state before the stored event eventID (whose
// group holds the state after it: a state event's own entry is put back
// as it was).
func (s *Service) StateBefore(ctx context.Context, eventID string) (StateAtEvent, error) {
	se, err := s.store.GetEvent(ctx, eventID)
	if err != nil {
		return StateAtEvent{}, err
	}
	return s.stateAtStored(ctx, se)
}

// stateAtStored is the state before a stored event, with its auth chain
// and joined servers.
func (s *Service) stateAtStored(ctx context.Context, se StoredEvent) (StateAtEvent, error) {
	list, err := s.StateBeforeEvent(ctx, se)
	if err != nil {
		return StateAtEvent{}, err
	}
	state := stateMap(list)
	var out StateAtEvent
	for _, st := range state {
		out.State = append(out.State, st.Event)
		if st.Event.Type() == matrixevents.TypeMember && st.Event.Membership() == "join" {
			if _, server, ok := matrixevents.SplitUserID(*st.Event.StateKey()); ok && !slices.Contains(out.Servers, server) {
				out.Servers = append(out.Servers, server)
			}
		}
	}
	slices.SortFunc(out.State, byDepth)
	slices.Sort(out.Servers)
	chain, _, err := s.authChain(ctx, [][]matrixevents.Event{append(slices.Clone(out.State), se.Event)})
	if err != nil {
		return StateAtEvent{}, err
	}
	// Oldest first: a server that takes the answer in order as its view
	// of the room (SyTest's does) ends with the later of two events for
	// the same state key, as an auth chain holds both.
	slices.SortFunc(chain, byDepth)
	out.AuthChain = chain
	return out, nil
}

// byDepth orders events by depth, then event ID.
func byDepth(a, b matrixevents.Event) int {
	return cmp.Or(cmp.Compare(a.Depth(), b.Depth()), strings.Compare(a.EventID(), b.EventID()))
}

// StateBeforeEvent is the room state before a stored event: its group
// holds the state after it, so a state event's own entry is put back as
// it was. It is what a timeline that starts at the event starts from,
// also when no event before it was ever shown (a room first known at
// this server's join).
func (s *Service) StateBeforeEvent(ctx context.Context, se StoredEvent) ([]StoredEvent, error) {
	list, err := s.store.StateGroup(ctx, se.StateGroup)
	if err != nil || !se.Event.IsState() {
		return list, err
	}
	k := tupleOf(se.Event)
	out := slices.DeleteFunc(list, func(x StoredEvent) bool { return tupleOf(x.Event) == k })
	if se.ReplacesState != "" {
		old, err := s.store.EventsAnyStatus(ctx, []string{se.ReplacesState})
		if err != nil {
			return nil, err
		}
		if o, ok := old[se.ReplacesState]; ok {
			out = append(out, o)
			// In the store's order, by position.
			slices.SortStableFunc(out, func(a, b StoredEvent) int { return cmp.Compare(a.StreamPos, b.StreamPos) })
		}
	}
	return out, nil
}
