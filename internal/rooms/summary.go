package rooms

import (
	"context"
	"maps"
	"slices"
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

// summaryLocked computes (or returns the cached) member summary; the
// caller holds the room's lock.
func (e *roomEntry) summaryLocked() MemberSummary {
	if e.summary != nil {
		return *e.summary
	}
	var sum MemberSummary
	var members []string
	for k, se := range e.state {
		switch {
		case k.Type == "m.room.member" && se.Event.Membership() == "join":
			sum.Joined++
			members = append(members, k.StateKey)
		case k.Type == "m.room.member" && se.Event.Membership() == "invite":
			sum.Invited++
			members = append(members, k.StateKey)
		case k.Type == "m.room.name" || k.Type == "m.room.canonical_alias":
			sum.Named = true
		}
	}
	slices.Sort(members)
	sum.FirstMembers = members[:min(6, len(members))]
	sum.JoinedServers = joinedServers(maps.Values(e.state))
	e.summary = &sum
	return sum
}
