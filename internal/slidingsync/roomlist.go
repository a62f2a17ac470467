package slidingsync

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"

	"foyer/internal/clientsync"
	"foyer/internal/refusal"
	"foyer/internal/rooms"
)

// candidate is one of the user's rooms that lists may hold.
type candidate struct {
	ListedRoom
	// remote is set for a membership held for a room on another server
	// (an invite received over federation, a knock sent through one).
	remote *rooms.RemoteMembership
	// bump orders the room in lists.
	bump int64
}

// userRooms are the user's rooms: those lists show, and all of them by
// ID (room subscriptions may name a room lists leave out).
type userRooms struct {
	listed []*candidate
	byID   map[string]*candidate
}

// roomsOf reads the user's rooms (membership rows, held remote
// memberships) and keeps those lists show, in list order; an invite from
// an ignored user is left out.
func (s *Service) roomsOf(ctx context.Context, userID string, since int64, prev *connState, ignored map[string]bool) (*userRooms, error) {
	local, err := s.listedRooms(ctx, userID)
	if err != nil {
		return nil, err
	}
	remote, err := s.rooms.RemoteMemberships(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := &userRooms{byID: make(map[string]*candidate, len(local)+len(remote))}
	for _, r := range local {
		out.byID[r.RoomID] = &candidate{ListedRoom: r}
	}
	for i := range remote {
		m := &remote[i]
		if c, ok := out.byID[m.RoomID]; ok && c.MembershipPos > m.StreamPos {
			continue
		}
		_, sender, err := clientsync.RemoteInviteState(*m)
		if err != nil {
			s.log.WarnContext(ctx, "a stored remote membership does not parse", "room_id", m.RoomID, "err", err)
			continue
		}
		var ev struct {
			Content struct {
				IsDirect bool `json:"is_direct"`
			} `json:"content"`
		}
		_ = json.Unmarshal(m.Event, &ev)
		out.byID[m.RoomID] = &candidate{remote: m, ListedRoom: ListedRoom{RoomID: m.RoomID, Membership: m.Membership,
			MembershipPos: m.StreamPos, MembershipSender: sender, DirectInvite: m.Membership == "invite" && ev.Content.IsDirect}}
	}
	for _, c := range out.byID {
		c.bump = bumpOf(c.ListedRoom)
		if !listable(c, userID, since, prev) {
			continue
		}
		if c.Membership == "invite" && ignored[c.MembershipSender] {
			continue
		}
		out.listed = append(out.listed, c)
	}
	sortByBump(out.listed)
	return out, nil
}

// bumpOf is where a room sorts: its newest bump event while the user is
// in it, else its membership (when the user was invited, left...).
func bumpOf(r ListedRoom) int64 {
	if r.Membership == "join" && r.BumpPos > 0 {
		return r.BumpPos
	}
	return r.MembershipPos
}

// listable: lists show the rooms the user is in, invited to, knocking
// on or banned from, and rooms left only when the leave is news to a
// connection that was sent the room or was a kick; never forgotten rooms.
func listable(c *candidate, userID string, since int64, prev *connState) bool {
	newlyLeft := since > 0 && c.MembershipPos > since && prev.rooms[c.RoomID].status != neverSent
	switch c.Membership {
	case "join", "invite", "knock":
		return true
	case "ban":
		return !c.Forgotten || newlyLeft
	case "leave":
		if newlyLeft {
			return true
		}
		return !c.Forgotten && c.MembershipSender != userID && c.remote == nil
	}
	return false
}

func sortByBump(list []*candidate) {
	slices.SortFunc(list, func(a, b *candidate) int {
		if c := cmp.Compare(b.bump, a.bump); c != 0 {
			return c
		}
		return cmp.Compare(a.RoomID, b.RoomID)
	})
}

// directRooms are the rooms m.direct lists.
func (s *Service) directRooms(ctx context.Context, userID string) (map[string]bool, error) {
	raw, err := s.accountData(ctx, userID, "", "m.direct")
	if err != nil || raw == nil {
		return nil, err
	}
	var direct map[string][]string
	if json.Unmarshal(raw, &direct) != nil {
		return nil, nil
	}
	out := map[string]bool{}
	for _, ids := range direct {
		for _, id := range ids {
			out[id] = true
		}
	}
	return out, nil
}

// accountData reads one entry, nil when there is none.
func (s *Service) accountData(ctx context.Context, userID, roomID, typ string) (json.RawMessage, error) {
	if s.clientData == nil {
		return nil, nil
	}
	raw, err := s.clientData.GetAccountData(ctx, userID, roomID, typ)
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind == refusal.NotFound {
		return nil, nil
	}
	return raw, err
}

// window is a list's answer and the rooms in its ranges.
func window(list []*candidate, ranges [][]int64) (ListResponse, []string) {
	resp := ListResponse{Count: len(list)}
	var ids []string
	for _, r := range ranges {
		op := ListOp{Op: "SYNC", Range: r, RoomIDs: []string{}}
		for i := r[0]; i <= r[1] && i < int64(len(list)); i++ {
			op.RoomIDs = append(op.RoomIDs, list[i].RoomID)
			ids = append(ids, list[i].RoomID)
		}
		resp.Ops = append(resp.Ops, op)
	}
	sort.Strings(ids)
	return resp, slices.Compact(ids)
}
