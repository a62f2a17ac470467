package clientsync

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"

	"foyer/internal/presence"
)

// PresenceExtension delivers m.presence of the caller's room-mates: a
// user's presence (a guest's too) is shown only to people who share a
// room with them (G-51).
type PresenceExtension struct {
	Sync     *Service
	Presence *presence.Service
}

// Fill implements Extension.
func (p PresenceExtension) Fill(ctx context.Context, req *Request, since, to int64, resp *Response) error {
	if req.Filter.Presence != nil && req.Filter.Presence.Limit != nil && *req.Filter.Presence.Limit == 0 {
		return nil
	}
	if since == 0 {
		return p.fillInitial(ctx, req, to, resp)
	}
	// Changes are few; room-mates of a big room are many. Look at the
	// changes first and check each changed user for a shared room.
	changes, err := p.Presence.ChangedBetween(ctx, since, to)
	if err != nil {
		return err
	}
	if since > 0 {
		// People who newly share a room with the caller (it joined, or
		// they did) come with their current presence, changed or not.
		seen := map[string]bool{}
		for _, st := range changes {
			seen[st.UserID] = true
		}
		for _, jr := range resp.Rooms.Join {
			for _, raw := range append(append([]json.RawMessage{}, jr.State.Events...), jr.Timeline.Events...) {
				var ev struct {
					Type     string `json:"type"`
					StateKey string `json:"state_key"`
					Content  struct {
						Membership string `json:"membership"`
					} `json:"content"`
				}
				if json.Unmarshal(raw, &ev) != nil || ev.Type != "m.room.member" || ev.Content.Membership != "join" || seen[ev.StateKey] {
					continue
				}
				seen[ev.StateKey] = true
				st, err := p.Presence.Get(ctx, ev.StateKey)
				if err != nil {
					return err
				}
				// Even a user never seen online is announced (as offline), so
				// the client knows where it stands.
				changes = append(changes, st)
			}
		}
	}
	if len(changes) == 0 {
		return nil
	}
	// Who shares a room with the caller (the caller included): one pass
	// over the rooms' cached state, rather than a query per change.
	mates, err := p.Sync.rooms.RoomMates(ctx, req.UserID)
	if err != nil {
		return err
	}
	isMate := make(map[string]bool, len(mates))
	for _, m := range mates {
		isMate[m] = true
	}
	for _, st := range changes {
		if !isMate[st.UserID] {
			continue
		}
		if !req.Filter.Presence.Allows("m.presence", st.UserID) {
			continue
		}
		resp.Presence.Events = append(resp.Presence.Events, p.Presence.EventJSON(st))
	}
	return nil
}

// fillInitial gives an initial sync the presence of the caller's
// room-mates who are not offline, as Synapse does: read for those users
// only, not for every user the server knows, and at most
// sync_limits.initial_presence of them, the caller and the most recently
// active first: a newcomer to a room of thousands is not sent thousands.
func (p PresenceExtension) fillInitial(ctx context.Context, req *Request, to int64, resp *Response) error {
	mates, err := p.Sync.rooms.RoomMates(ctx, req.UserID)
	if err != nil {
		return err
	}
	// Who is not offline is kept in memory: a newcomer's first sync costs
	// a lookup per room-mate, not a query over them.
	states, err := p.Presence.LiveAmong(ctx, mates, to)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(states, func(st presence.Status) bool { return st.UserID == req.UserID }) {
		// The caller learns its own status even when offline.
		own, err := p.Presence.Get(ctx, req.UserID)
		if err != nil {
			return err
		}
		if own.StreamPos > 0 && own.StreamPos <= to {
			states = append(states, own)
		}
	}
	kept := states[:0]
	for _, st := range states {
		if !req.Filter.Presence.Allows("m.presence", st.UserID) {
			continue
		}
		kept = append(kept, st)
	}
	if limit := p.Sync.initialPresence; limit > 0 && len(kept) > limit {
		kept = mostRecentlyActive(kept, req.UserID, limit)
	}
	// In the order they were stored, sorting only the few kept.
	slices.SortFunc(kept, func(a, b presence.Status) int { return cmp.Compare(a.StreamPos, b.StreamPos) })
	for _, st := range kept {
		resp.Presence.Events = append(resp.Presence.Events, p.Presence.EventJSON(st))
	}
	return nil
}

// mostRecentlyActive keeps limit of statuses: the caller's, then the most
// recently active. It sorts their timestamps, not the statuses: a room of
// thousands is cut to a few hundred on every newcomer's first sync.
func mostRecentlyActive(statuses []presence.Status, caller string, limit int) []presence.Status {
	others := make([]int64, 0, len(statuses))
	for _, st := range statuses {
		if st.UserID != caller {
			others = append(others, st.LastActiveTS)
		}
	}
	room := limit - (len(statuses) - len(others))
	if room <= 0 {
		return slices.DeleteFunc(statuses, func(st presence.Status) bool { return st.UserID != caller })
	}
	slices.Sort(others)
	cutoff := others[len(others)-room]
	// Those active after the cutoff all fit; those at it fill what is left.
	atCutoff := room
	for _, ts := range others {
		if ts > cutoff {
			atCutoff--
		}
	}
	return slices.DeleteFunc(statuses, func(st presence.Status) bool {
		switch {
		case st.UserID == caller || st.LastActiveTS > cutoff:
			return false
		case st.LastActiveTS == cutoff && atCutoff > 0:
			atCutoff--
			return false
		}
		return true
	})
}

// watchPresence wakes room-mates' syncs when someone's presence changes.
// Every long-poll listens on its user's rooms, so waking the user's
// joined rooms reaches each room-mate (and each preview of those rooms)
// without listing the members.
func (s *Service) watchPresence(p *presence.Service) {
	s.presence = p
	p.OnChange(func(st presence.Status) {
		joined, err := s.rooms.JoinedRooms(context.Background(), st.UserID)
		if err != nil {
			s.log.Warn("finding rooms for presence", "err", err)
		}
		s.WakeAt(st.StreamPos, []string{st.UserID}, joined)
	})
}
