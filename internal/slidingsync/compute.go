package slidingsync

import (
	"context"
	"maps"
	"slices"
	"sort"

	"foyer/internal/rooms"
)

// roomRequest is what to send of a room: the widest of what its lists
// and subscription ask.
type roomRequest struct {
	timelineLimit int
	state         stateSpec
}

func (r roomRequest) widen(o roomRequest) roomRequest {
	return roomRequest{timelineLimit: max(r.timelineLimit, o.timelineLimit), state: r.state.union(o.state)}
}

// compute builds the response to req from the connection state prev
// (from is nil on a connection's first request).
func (s *Service) compute(ctx context.Context, req *Request, from *position, prev *connState) (*computed, error) {
	ctx = rooms.WithHistoryCache(ctx)
	to, typingVersion := s.sync.Position()
	incremental := from != nil
	var since int64
	if incremental {
		since = from.stream
		if since > to {
			// A pos from the future (a restored backup): its state cannot
			// be trusted.
			return nil, ErrUnknownPos
		}
	}
	ignored, err := s.sync.IgnoredBy(ctx, req.UserID)
	if err != nil {
		return nil, err
	}
	ur, err := s.roomsOf(ctx, req.UserID, since, prev, ignored)
	if err != nil {
		return nil, err
	}
	direct, err := s.directRooms(ctx, req.UserID)
	if err != nil {
		return nil, err
	}
	c := &computed{next: prev.clone(), to: to, typing: typingVersion,
		resp: &Response{Rooms: map[string]*RoomResponse{}}}

	// Lists and subscriptions: the rooms this response is about.
	fc := &filterContext{s: s, userID: req.UserID, to: to, rooms: ur, direct: direct}
	relevant := map[string]roomRequest{}
	listRooms := map[string][]string{}
	keys := slices.Sorted(maps.Keys(req.Body.Lists))
	for _, key := range keys {
		l := req.Body.Lists[key]
		filtered, err := fc.apply(ctx, l.Filters, ur.listed)
		if err != nil {
			return nil, err
		}
		lr, ids := window(filtered, l.Ranges)
		if c.resp.Lists == nil {
			c.resp.Lists = map[string]ListResponse{}
		}
		c.resp.Lists[key] = lr
		listRooms[key] = ids
		rr := roomRequest{timelineLimit: l.TimelineLimit, state: specOf(l.RequiredState)}
		for _, id := range ids {
			if old, ok := relevant[id]; ok {
				relevant[id] = old.widen(rr)
			} else {
				relevant[id] = rr
			}
		}
	}
	subscribed := map[string]bool{}
	for roomID, p := range req.Body.RoomSubscriptions {
		if ur.byID[roomID] == nil {
			// Not a room the user has a membership in: nothing to show.
			continue
		}
		subscribed[roomID] = true
		rr := roomRequest{timelineLimit: p.TimelineLimit, state: specOf(p.RequiredState)}
		if old, ok := relevant[roomID]; ok {
			relevant[roomID] = old.widen(rr)
		} else {
			relevant[roomID] = rr
		}
	}

	// Which of them to send: all on a first request; later, those the
	// client lacks, those asked with more than before, those with news.
	toSend := map[string]bool{}
	check := map[string]int64{}
	for id, rr := range relevant {
		if !incremental {
			toSend[id] = true
			continue
		}
		st := prev.rooms[id]
		old, had := prev.configs[id]
		cand := ur.byID[id]
		switch {
		case st.status == neverSent:
			toSend[id] = true
		case had && (old.timelineLimit < rr.timelineLimit || !old.state.union(rr.state).equal(old.state)):
			toSend[id] = true
		case cand.MembershipPos > since:
			toSend[id] = true
		case prev.dms[id] != (direct[id] || cand.DirectInvite):
			// Its DM status changed (m.direct): the client is told.
			toSend[id] = true
		case st.status == sentBefore:
			check[id] = st.upTo
		default:
			check[id] = since
		}
	}
	// Most rooms have had no event since: the change index says so
	// without a query.
	maps.DeleteFunc(check, func(id string, after int64) bool { return !s.sync.EventsMaybeSince(id, after) })
	if len(check) > 0 {
		news, err := s.lists.RoomsWithEventsAfter(ctx, check, to)
		if err != nil {
			return nil, err
		}
		for id := range news {
			toSend[id] = true
		}
	}

	owned := map[string]bool{}
	ids := slices.Sorted(maps.Keys(toSend))
	for _, id := range ids {
		rr := relevant[id]
		r, news, err := s.room(ctx, roomArgs{req: req, cand: ur.byID[id], rr: rr, prev: prev, next: c.next, owned: owned,
			since: since, to: to, incremental: incremental, isDM: direct[id] || ur.byID[id].DirectInvite, ignored: ignored})
		if err != nil {
			return nil, err
		}
		if news || !incremental {
			c.resp.Rooms[id] = r
			c.news = true
		}
		c.next.configs[id] = roomConfig{timelineLimit: rr.timelineLimit, state: rr.state}
	}
	// The client now has every relevant room up to to; a room it had up to
	// since that left the windows has only that.
	for id, st := range prev.rooms {
		if _, ok := relevant[id]; !ok && st.status == sentLive {
			c.next.rooms[id] = roomSent{status: sentBefore, upTo: since}
		}
	}
	for id := range relevant {
		c.next.rooms[id] = roomSent{status: sentLive}
	}

	if err := s.extensions(ctx, req, extensionArgs{from: from, since: since, to: to, typing: typingVersion,
		listRooms: listRooms, subscribed: subscribed, ur: ur, ignored: ignored}, c); err != nil {
		return nil, err
	}
	if c.resp.Extensions.carriesNews() {
		c.news = true
	}
	for id, cand := range ur.byID {
		if cand.remote == nil {
			c.watch = append(c.watch, id)
		}
	}
	sort.Strings(c.watch)
	return c, nil
}
