package rooms

import (
	"context"
	"maps"
	"slices"

	"foyer/internal/rooms/matrixevents"
)

// MemberSummary is what sync's room summary needs: member counts and the
// first few members by user ID (heroes are taken from them).
type MemberSummary struct {
	Joined, Invited int
	// FirstMembers are up to six joined or invited users, sorted.
	FirstMembers []string
	Named        bool // the room has a name or canonical alias
	// JoinedServers are the servers with a joined member, sorted: where
	// the room's events go over federation.
	JoinedServers []string
}

// MemberCounts returns a room's member summary, cached until its state
// changes, so syncs of a big room do not walk every member each time.
func (s *Service) MemberCounts(ctx context.Context, roomID string) (MemberSummary, error) {
	e, err := s.lockRoomRead(ctx, roomID)
	if err != nil {
		return MemberSummary{}, err
	}
	defer e.mu.Unlock()
	return e.summaryLocked(), nil
}

// firstMembersShown is how many members MemberSummary.FirstMembers holds.
const firstMembersShown = 6

// summaryLocked computes (or returns the cached) member summary; the
// caller holds the room's lock.
func (e *roomEntry) summaryLocked() MemberSummary {
	if e.summary != nil {
		return *e.summary
	}
	var sum MemberSummary
	first := make([]string, 0, firstMembersShown)
	servers := map[string]int{}
	for k, se := range e.state {
		switch {
		case k.Type == matrixevents.TypeMember:
			switch se.Event.Membership() {
			case "join":
				sum.Joined++
				if _, server, ok := matrixevents.SplitUserID(k.StateKey); ok {
					servers[server]++
				}
			case "invite":
				sum.Invited++
			default:
				continue
			}
			first = withFirstMember(first, k.StateKey)
		case k.Type == "m.room.name" || k.Type == "m.room.canonical_alias":
			sum.Named = true
		}
	}
	sum.FirstMembers = first
	sum.JoinedServers = slices.Sorted(maps.Keys(servers))
	e.summary, e.serverJoins = &sum, servers
	return sum
}

// withFirstMember is first (sorted, at most firstMembersShown) with user
// added if it sorts among them; first is not changed.
func withFirstMember(first []string, user string) []string {
	i, found := slices.BinarySearch(first, user)
	if found || i >= firstMembersShown {
		return first
	}
	out := make([]string, 0, firstMembersShown)
	out = append(out, first[:i]...)
	out = append(out, user)
	out = append(out, first[i:]...)
	return out[:min(len(out), firstMembersShown)]
}

// summaryAfterMembers carries the cached summary across a change of the
// given state keys, before being the state before it: a join to a room of
// thousands does not recount them. A change of anything but membership,
// or a member leaving who was among the first shown, clears it instead.
func (e *roomEntry) summaryAfterMembers(before map[matrixevents.StateTuple]StoredEvent, changed []matrixevents.StateTuple) {
	if e.summary == nil {
		return
	}
	sum := *e.summary
	serversChanged := false
	for i, k := range changed {
		if slices.Contains(changed[:i], k) {
			continue // one key changed twice is one change
		}
		if k.Type != matrixevents.TypeMember {
			e.summary = nil
			return
		}
		was, now := membershipIn(before, k), membershipIn(e.state, k)
		if was == now {
			continue
		}
		_, server, serverOK := matrixevents.SplitUserID(k.StateKey)
		switch was {
		case "join":
			sum.Joined--
			if serverOK {
				if e.serverJoins[server]--; e.serverJoins[server] <= 0 {
					delete(e.serverJoins, server)
					serversChanged = true
				}
			}
		case "invite":
			sum.Invited--
		}
		switch now {
		case "join":
			sum.Joined++
			if serverOK {
				if e.serverJoins[server]++; e.serverJoins[server] == 1 {
					serversChanged = true
				}
			}
		case "invite":
			sum.Invited++
		}
		listed := func(m string) bool { return m == "join" || m == "invite" }
		switch {
		case listed(was) && !listed(now):
			if slices.Contains(sum.FirstMembers, k.StateKey) {
				e.summary = nil
				return
			}
		case !listed(was) && listed(now):
			sum.FirstMembers = withFirstMember(sum.FirstMembers, k.StateKey)
		}
	}
	if serversChanged {
		sum.JoinedServers = slices.Sorted(maps.Keys(e.serverJoins))
	}
	e.summary = &sum
}

// membershipIn is the membership of k's user in state, "" when none.
func membershipIn(state map[matrixevents.StateTuple]StoredEvent, k matrixevents.StateTuple) string {
	if se, ok := state[k]; ok {
		return se.Event.Membership()
	}
	return ""
}
