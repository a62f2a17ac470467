package clientsync

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"slices"

	"foyer/internal/clientdata"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// defaultTimelineLimit is used when the filter sets none.
const defaultTimelineLimit = 10

// timelineSlice is a room's timeline between two positions.
type timelineSlice struct {
	events  []rooms.StoredEvent
	limited bool
	// firstPos is the position of the first event, or upper+1 when empty.
	firstPos int64
	// earlier is true when the room has events before firstPos, so a
	// prev_batch token leads somewhere.
	earlier bool
	// upper is the position the timeline was read up to.
	upper int64
}

// prevBatch is where backwards pagination continues: before the first
// event or, when the timeline holds the whole room, the position it was
// read up to, as Synapse gives it. From there /messages still leads back
// to the start of the room rather than to an empty page, and
// /members?at= gives the state as of the sync, not the empty state from
// before the room's first event (Complement's TestGetRoomMembersAtPoint).
func (t timelineSlice) prevBatch() string {
	if t.earlier {
		return rooms.FormatToken(t.firstPos - 1)
	}
	return rooms.FormatToken(t.upper)
}

// emptyList reports a filter list given as [] (matches nothing), as
// opposed to an absent one (matches everything).
func emptyList(l []string) bool { return l != nil && len(l) == 0 }

// timeline loads the newest visible events in (lower, upper].
// joinedAt is the position of the caller's current join event when it is
// joined (0 otherwise): events after it are all visible, with no need to
// consult history visibility.
func (s *Service) timeline(ctx context.Context, req *Request, roomID string, lower, upper, joinedAt int64) (timelineSlice, error) {
	tf := req.Filter.room().Timeline
	limit := tf.event().limitOr(defaultTimelineLimit)
	if limit > 200 {
		limit = 200
	}
	out := timelineSlice{firstPos: upper + 1, upper: upper}
	if !tf.AllowsRoom(roomID) || limit == 0 || upper <= lower || (tf != nil && (emptyList(tf.Types) || emptyList(tf.Senders))) {
		return out, nil
	}
	// Visibility can hide events (e.g. history from before a join): keep
	// reading further back, a bounded number of rounds, to fill the limit.
	var visible []rooms.StoredEvent
	cursor := upper
	for round := 0; round < 10 && len(visible) < limit; round++ {
		batch, err := s.roomEvents(ctx, roomID, cursor+1, lower+1, true, limit+1, tf.StoreFilter())
		if err != nil {
			return out, err
		}
		more := len(batch) > limit
		if more {
			batch = batch[:limit]
		}
		if len(batch) == 0 {
			break
		}
		cursor = batch[len(batch)-1].StreamPos - 1
		if joinedAt == 0 || joinedAt >= batch[len(batch)-1].StreamPos {
			if batch, err = s.rooms.FilterVisible(ctx, req.UserID, roomID, batch); err != nil {
				return out, err
			}
		}
		batch = DropIgnored(batch, req.ignored)
		for _, se := range batch {
			if len(visible) < limit {
				visible = append(visible, se)
			} else {
				more = true
			}
		}
		out.limited = more
		if !more {
			break
		}
	}
	slices.Reverse(visible)
	out.events = visible
	if len(visible) > 0 {
		out.firstPos = visible[0].StreamPos
	}
	if out.limited || lower > 0 {
		out.earlier = true
	} else if before, err := s.store.Events(ctx, roomID, out.firstPos, 0, true, 1, rooms.EventFilter{}); err != nil {
		return out, err
	} else {
		out.earlier = len(before) > 0
	}
	return out, nil
}

// stateFor returns the state block for a room's timeline, which ends at
// stream position end. The client is to end with the room's real state at
// end: with several branches, the resolution of their states, which need
// not be what applying the timeline in stream order gives. So, against
// the state the room had at since (nothing when full), it holds for each
// key the timeline does not carry the state at end when that differs, and
// for each key it carries the state at the timeline's start when that
// differs. With use_state_after (MSC4222) it holds the state at end where
// it differs from since, timeline or not. With lazy-loaded members,
// members unchanged since then are limited to the timeline's senders (and
// the caller on a full sync), and those already sent to this device are
// not sent again unless the filter asks for redundant members.
func (s *Service) stateFor(ctx context.Context, req *Request, roomID string, tl timelineSlice, since, end int64, full bool) ([]rooms.StoredEvent, error) {
	rf := req.Filter.room()
	sf := rf.State
	lazy := (sf != nil && sf.LazyLoadMembers) || (rf.Timeline != nil && rf.Timeline.LazyLoadMembers)
	redundant := (sf != nil && sf.IncludeRedundantMembers) || (rf.Timeline != nil && rf.Timeline.IncludeRedundantMembers)
	senders := map[string]bool{req.UserID: full}
	inTimeline := map[string]bool{}
	timelineKeys := map[matrixevents.StateTuple]bool{}
	for _, se := range tl.events {
		senders[se.Event.Sender()] = true
		inTimeline[se.Event.EventID()] = true
		if se.Event.IsState() {
			timelineKeys[tupleOf(se.Event)] = true
		}
	}
	endGroup, err := s.stateGroupAt(ctx, roomID, end)
	if err != nil {
		return nil, err
	}
	var sinceGroup int64
	if !full {
		if sinceGroup, err = s.stateGroupAt(ctx, roomID, since); err != nil {
			return nil, err
		}
		// The common case, a quiet room or one with new messages only:
		// the state is what it was, and nothing is read.
		if sinceGroup == endGroup && len(timelineKeys) == 0 && !(lazy && len(tl.events) > 0) {
			return nil, nil
		}
	}
	// The keys are read first, as event IDs; only the events kept are
	// fetched, so a lazy-loading sync of a large room reads the members it
	// shows, not all of them.
	senderKeys := func() []matrixevents.StateTuple {
		var members []matrixevents.StateTuple
		for user, sent := range senders {
			if sent {
				members = append(members, matrixevents.StateTuple{Type: "m.room.member", StateKey: user})
			}
		}
		return members
	}
	// Unchanged state with a timeline of messages (the usual wake of a
	// lazy-loading client): only the senders' members may be news.
	sendersOnly := !full && lazy && sinceGroup == endGroup && len(timelineKeys) == 0
	var atEnd map[matrixevents.StateTuple]string
	switch {
	case sendersOnly:
		atEnd, err = s.stateGroupSubset(ctx, endGroup, false, senderKeys())
	case full && lazy:
		// Members beyond the timeline's senders are not sent: not read
		// either.
		atEnd, err = s.store.StateGroupSubset(ctx, endGroup, true, senderKeys())
	default:
		// Shared with the other syncs woken by the same change: read
		// only below.
		atEnd, err = s.stateGroupIDs(ctx, endGroup)
	}
	if err != nil {
		return nil, err
	}
	had := map[matrixevents.StateTuple]string{}
	if !full && sinceGroup != 0 {
		had = atEnd
		if sinceGroup != endGroup {
			if had, err = s.stateGroupIDs(ctx, sinceGroup); err != nil {
				return nil, err
			}
		}
	}
	// The state before the timeline's first event, which holds it even
	// when no event before it was shown (a room first known at this
	// server's join of it over federation); only the keys the timeline
	// carries are taken from it.
	var atStart map[matrixevents.StateTuple]string
	if len(timelineKeys) > 0 && !req.UseStateAfter {
		if atStart, err = s.stateIDsBefore(ctx, tl.events[0], timelineKeys); err != nil {
			return nil, err
		}
	}
	roomAllowed := sf.AllowsRoom(roomID)
	keep := func(key matrixevents.StateTuple, eventID string) bool {
		if !roomAllowed {
			return false
		}
		isMember := key.Type == "m.room.member"
		changed := had[key] != eventID
		kept := changed || (lazy && isMember && senders[key.StateKey])
		// Members who changed in a gap are sent even when lazy loading
		// (as the reference server does: a leave there must reach the
		// client's member list); an initial sync sends the senders' only.
		if full && lazy && isMember && !senders[key.StateKey] {
			kept = false
		}
		if !kept || (inTimeline[eventID] && !req.UseStateAfter) {
			return false
		}
		if lazy && isMember && !changed && !redundant && !full && s.lazy.alreadySent(req, roomID, key.StateKey, eventID) {
			return false
		}
		return true
	}
	// Each key's candidate: the state at the end, but the state before
	// the timeline for keys the timeline carries.
	var fromEnd, fromStart []string
	for key, id := range atEnd {
		if (req.UseStateAfter || !timelineKeys[key]) && keep(key, id) {
			fromEnd = append(fromEnd, id)
		}
	}
	for key, id := range atStart {
		if timelineKeys[key] && keep(key, id) {
			fromStart = append(fromStart, id)
		}
	}
	var out []rooms.StoredEvent
	for _, ids := range [][]string{fromEnd, fromStart} {
		events, err := s.stateEvents(ctx, roomID, end, ids)
		if err != nil {
			return nil, err
		}
		for _, se := range events {
			if sf.event().Allows(se.Event.Type(), se.Event.Sender()) {
				out = append(out, se)
			}
		}
	}
	if lazy {
		if full {
			s.lazy.reset(req, roomID)
		}
		for _, se := range out {
			if se.Event.Type() == "m.room.member" {
				s.lazy.record(req, roomID, *se.Event.StateKey(), se.Event.EventID())
			}
		}
		if !req.UseStateAfter {
			for _, se := range tl.events {
				if se.Event.Type() == "m.room.member" {
					s.lazy.record(req, roomID, *se.Event.StateKey(), se.Event.EventID())
				}
			}
		}
	}
	return out, nil
}

// stateIDsBefore is the state before se as event IDs, for keys only:
// the state after it without its own key, or with the state it replaced.
func (s *Service) stateIDsBefore(ctx context.Context, se rooms.StoredEvent, keys map[matrixevents.StateTuple]bool) (map[matrixevents.StateTuple]string, error) {
	before, err := s.store.StateGroupSubset(ctx, se.StateGroup, false, slices.Collect(maps.Keys(keys)))
	if err != nil || !se.Event.IsState() {
		return before, err
	}
	key := tupleOf(se.Event)
	delete(before, key)
	if se.ReplacesState != "" {
		before[key] = se.ReplacesState
	}
	return before, nil
}

// stateEvents fetches state events by ID in the order a state group's
// events are read: by stream position, then depth.
func (s *Service) stateEvents(ctx context.Context, roomID string, end int64, ids []string) ([]rooms.StoredEvent, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	byID, err := s.eventsByID(ctx, roomID, end, ids)
	if err != nil {
		return nil, err
	}
	out := make([]rooms.StoredEvent, 0, len(byID))
	for _, se := range byID {
		out = append(out, se)
	}
	slices.SortFunc(out, func(a, b rooms.StoredEvent) int {
		if c := cmp.Compare(a.StreamPos, b.StreamPos); c != 0 {
			return c
		}
		return cmp.Compare(a.Event.Depth(), b.Event.Depth())
	})
	return out, nil
}

// tupleOf is a state event's key.
func tupleOf(ev matrixevents.Event) matrixevents.StateTuple {
	return matrixevents.StateTuple{Type: ev.Type(), StateKey: *ev.StateKey()}
}

// formatEvents renders events as the filter asks: the client format
// with unsigned data (and the transaction ID for the caller's own device's
// sends), or the federation format.
func (s *Service) formatEvents(ctx context.Context, req *Request, events []rooms.StoredEvent) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(events))
	if req.Filter.EventFormat == "federation" {
		for _, se := range events {
			var pdu map[string]any
			if json.Unmarshal(se.Event.JSON(), &pdu) != nil {
				continue
			}
			// Room versions 3+ derive the ID; clients still need it.
			pdu["event_id"] = se.Event.EventID()
			out = append(out, mustJSON(pdu))
		}
		return out, nil
	}
	for _, ce := range s.rooms.ClientEvents(rooms.WithViewer(ctx, req.UserID, req.DeviceID), events, false) {
		out = append(out, mustJSON(ce))
	}
	return out, nil
}

func (s *Service) joinedRoom(ctx context.Context, req *Request, m rooms.RoomMembership, since, to int64, initial bool,
	typingChanged map[string]bool, accountData []clientdata.AccountDataEvent) (*JoinedRoom, error) {
	roomID := m.RoomID
	newlyJoined := false
	if !initial && m.StreamPos > since {
		was, err := s.membershipAt(ctx, m, req.UserID, since)
		if err != nil {
			return nil, err
		}
		newlyJoined = was.Membership != "join"
	}
	full := initial || newlyJoined || req.FullState
	lower := since
	if initial || newlyJoined {
		lower = 0
	}
	// A room with no event since the last sync needs no query: its
	// timeline is empty and no state changed.
	tl := timelineSlice{firstPos: to + 1, earlier: true}
	var state []rooms.StoredEvent
	var err error
	if full || s.changes.eventsMaybeSince(roomID, since) {
		if tl, err = s.timeline(ctx, req, roomID, lower, to, m.StreamPos); err != nil {
			return nil, err
		}
		if state, err = s.stateFor(ctx, req, roomID, tl, since, to, full); err != nil {
			return nil, err
		}
	}
	jr := newJoinedRoom()
	if jr.Timeline.Events, err = s.formatEvents(ctx, req, tl.events); err != nil {
		return nil, err
	}
	// A room joined since the last sync is new to the client, which has
	// none of its history: when the room holds events before this
	// timeline, the client must treat it as a gap (as Synapse and
	// Dendrite do), even if no event of the filtered types was left out.
	jr.Timeline.Limited = tl.limited || (newlyJoined && tl.earlier)
	jr.Timeline.PrevBatch = tl.prevBatch()
	if jr.State.Events, err = s.formatEvents(ctx, req, state); err != nil {
		return nil, err
	}

	rf := req.Filter.room()
	if s.typing != nil && (initial || typingChanged[roomID]) && rf.Ephemeral.AllowsRoom(roomID) && rf.Ephemeral.event().Allows("m.typing", "") {
		users := s.typing.Current(roomID)
		if len(req.ignored) > 0 {
			users = slices.DeleteFunc(slices.Clone(users), func(u string) bool { return req.ignored[u] })
		}
		// An initial sync shows the list of a room that has seen typing
		// since the server started, empty or not, as Synapse does: a client
		// waiting for typing to stop sees it stopped.
		if !initial || len(users) > 0 || s.typing.RoomVersion(roomID) > 0 {
			if users == nil {
				users = []string{}
			}
			jr.Ephemeral.Events = append(jr.Ephemeral.Events, mustJSON(map[string]any{"type": "m.typing", "content": map[string]any{"user_ids": users}}))
		}
	}
	for _, ev := range accountData {
		if rf.AccountData.AllowsRoom(roomID) && rf.AccountData.event().Allows(ev.Type, "") {
			jr.AccountData.Events = append(jr.AccountData.Events, mustJSON(ev))
		}
	}
	if !full && len(jr.Timeline.Events) == 0 && len(jr.State.Events) == 0 && len(jr.Ephemeral.Events) == 0 && len(jr.AccountData.Events) == 0 {
		return nil, nil
	}
	ms, err := s.rooms.MemberCounts(ctx, roomID)
	if err != nil {
		return nil, err
	}
	jr.Summary = summarise(ms, req.UserID)
	if jr.UnreadNotifications, err = s.unread(ctx, req.UserID, roomID, m.StreamPos, to); err != nil {
		return nil, err
	}
	return jr, nil
}

// summarise turns a member summary into sync's room summary; heroes are
// given for rooms without a name or alias.
func summarise(ms rooms.MemberSummary, self string) *Summary {
	sum := &Summary{JoinedMemberCount: ms.Joined, InvitedMemberCount: ms.Invited}
	if !ms.Named {
		for _, m := range ms.FirstMembers {
			if m != self && len(sum.Heroes) < 5 {
				sum.Heroes = append(sum.Heroes, m)
			}
		}
	}
	return sum
}

func (s *Service) leftRoom(ctx context.Context, req *Request, m rooms.RoomMembership, since int64, initial bool) (*LeftRoom, error) {
	full := initial
	if !initial {
		// A room joined and left since the last sync is new to the client.
		was, err := s.membershipAt(ctx, m, req.UserID, since)
		if err != nil {
			return nil, err
		}
		full = was.Membership != "join"
	}
	lower := since
	if full {
		lower = 0
	}
	tl, err := s.timeline(ctx, req, m.RoomID, lower, m.StreamPos, 0)
	if err != nil {
		return nil, err
	}
	state, err := s.stateFor(ctx, req, m.RoomID, tl, since, m.StreamPos, full)
	if err != nil {
		return nil, err
	}
	lr := &LeftRoom{Timeline: Timeline{Limited: tl.limited}, AccountData: EventList{Events: []json.RawMessage{}}}
	if lr.State.Events, err = s.formatEvents(ctx, req, state); err != nil {
		return nil, err
	}
	if lr.Timeline.Events, err = s.formatEvents(ctx, req, tl.events); err != nil {
		return nil, err
	}
	lr.Timeline.PrevBatch = tl.prevBatch()
	return lr, nil
}

// strippedTypes is the state shown to invitees and knockers.
var strippedTypes = []string{"m.room.create", "m.room.name", "m.room.avatar", "m.room.topic", "m.room.join_rules",
	"m.room.canonical_alias", "m.room.encryption", "m.room.guest_access", "m.room.history_visibility"}

func (s *Service) strippedState(ctx context.Context, roomID, userID string) ([]StrippedEvent, error) {
	snap, err := s.rooms.Current(ctx, roomID)
	if err != nil {
		return nil, err
	}
	out := []StrippedEvent{}
	add := func(se rooms.StoredEvent) {
		ev := se.Event
		out = append(out, StrippedEvent{Content: ev.Content(), Sender: ev.Sender(), StateKey: *ev.StateKey(), Type: ev.Type(),
			Full: fullCreateEvent(ev)})
	}
	for _, typ := range strippedTypes {
		if se, ok := snap.Get(typ, ""); ok {
			add(se)
		}
	}
	if se, ok := snap.Get("m.room.member", userID); ok {
		add(se)
		// The inviter's own member event lets clients show who invited.
		if inviter := se.Event.Sender(); inviter != userID {
			if ise, ok := snap.Get("m.room.member", inviter); ok {
				add(ise)
			}
		}
	}
	return out, nil
}
