package rooms

import (
	"iter"
	"slices"

	"foyer/internal/rooms/matrixevents"
)

// OnFederatedEvent registers f to hear of each event shown to clients
// together with the other servers it is for: those with a joined member
// in the room after it, and a membership event's target's server (not an
// invite's, which /invite delivered), less
// this server and the sender's (a received event's origin). f runs while
// the room is locked, so it must not call back into the room; it is not
// called when there is no other server.
func (s *Service) OnFederatedEvent(f func(ev StoredEvent, servers []string)) {
	s.listenersMu.Lock()
	s.federated = append(s.federated, f)
	s.listenersMu.Unlock()
}

// tellFederated calls the OnFederatedEvent listeners for events, joined
// being the servers with a joined member in the room after them.
func (s *Service) tellFederated(events []StoredEvent, joined []string) {
	s.listenersMu.RLock()
	defer s.listenersMu.RUnlock()
	if len(s.federated) == 0 {
		return
	}
	for _, se := range events {
		servers := slices.Clone(joined)
		// A membership's target's server hears of it even when it has no
		// member joined after it (a kick, a ban) — but not of an invite,
		// which reached it through /invite: a server not in the room has
		// no use for the room's PDUs (and some refuse them).
		if se.Event.Type() == matrixevents.TypeMember && se.Event.StateKey() != nil && se.Event.Membership() != "invite" {
			if _, target, ok := matrixevents.SplitUserID(*se.Event.StateKey()); ok && !slices.Contains(servers, target) {
				servers = append(servers, target)
			}
		}
		_, origin, _ := matrixevents.SplitUserID(se.Event.Sender())
		servers = slices.DeleteFunc(servers, func(name string) bool { return name == s.serverName || name == origin })
		if len(servers) == 0 {
			continue
		}
		slices.Sort(servers)
		for _, f := range s.federated {
			f(se, servers)
		}
	}
}

// joinedServers returns the servers with a joined member in state, sorted.
func joinedServers(state iter.Seq[StoredEvent]) []string {
	var joined []string
	for se := range state {
		if se.Event.Type() != matrixevents.TypeMember || se.Event.Membership() != "join" || se.Event.StateKey() == nil {
			continue
		}
		if _, server, ok := matrixevents.SplitUserID(*se.Event.StateKey()); ok && !slices.Contains(joined, server) {
			joined = append(joined, server)
		}
	}
	slices.Sort(joined)
	return joined
}
