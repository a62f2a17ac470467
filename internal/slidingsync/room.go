package slidingsync

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"

	"foyer/internal/clientsync"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// maxHeroes is how many members stand for a room without a name.
const maxHeroes = 5

type roomArgs struct {
	req         *Request
	cand        *candidate
	rr          roomRequest
	prev, next  *connState
	owned       map[string]bool
	since, to   int64
	incremental bool
	isDM        bool
	ignored     map[string]bool
}

// room builds one room's entry; news is false when an incremental entry
// holds nothing the client lacks.
func (s *Service) room(ctx context.Context, a roomArgs) (*RoomResponse, bool, error) {
	c := a.cand
	userID := a.req.UserID
	st := a.prev.rooms[c.RoomID]
	old, hadConfig := a.prev.configs[c.RoomID]
	initial := !a.incremental || st.status == neverSent
	if !initial && c.MembershipPos > a.since && c.Membership == "join" && c.remote == nil {
		was, err := s.sync.MembershipAt(ctx, rooms.RoomMembership{RoomID: c.RoomID, Membership: c.Membership, StreamPos: c.MembershipPos}, userID, a.since)
		if err != nil {
			return nil, false, err
		}
		initial = was.Membership != "join"
	}
	var fromBound int64
	if !initial {
		fromBound = a.since
		if st.status == sentBefore {
			fromBound = st.upTo
		}
	}
	bump := c.bump
	r := &RoomResponse{Initial: initial, BumpStamp: &bump}
	dmChanged := !initial && a.prev.dms[c.RoomID] != a.isDM
	if (initial && a.isDM) || dmChanged {
		isDM := a.isDM
		r.IsDM = &isDM
	}
	if a.isDM {
		a.next.dms[c.RoomID] = true
	} else {
		delete(a.next.dms, c.RoomID)
	}

	if c.Membership == "invite" || c.Membership == "knock" {
		if !initial && c.MembershipPos <= fromBound {
			return r, dmChanged, nil
		}
		var stripped []clientsync.StrippedEvent
		var err error
		if c.remote != nil {
			stripped, _, err = clientsync.RemoteInviteState(*c.remote)
		} else {
			stripped, err = s.sync.InviteState(ctx, c.RoomID, userID)
		}
		if err != nil {
			return nil, false, err
		}
		r.InviteState = stripped
		if c.Membership == "knock" {
			r.KnockState = stripped
		}
		return r, true, nil
	}
	if c.remote != nil {
		// A leave of a room on another server: only the fact of it.
		return r, initial || c.MembershipPos > fromBound, nil
	}

	upper := a.to
	var joinedAt int64
	if c.Membership == "join" {
		joinedAt = c.MembershipPos
	} else {
		// No one sees past their leave or ban.
		upper = min(upper, c.MembershipPos)
	}
	news := initial || dmChanged

	// Timeline.
	expanded := !initial && hadConfig && old.timelineLimit < a.rr.timelineLimit
	var timeline []rooms.StoredEvent
	limited := false
	if a.rr.timelineLimit > 0 {
		lower := fromBound
		if expanded {
			lower = 0
		}
		tw, err := s.sync.Timeline(ctx, userID, a.ignored, c.RoomID, lower, upper, joinedAt, a.rr.timelineLimit)
		if err != nil {
			return nil, false, err
		}
		timeline, limited = tw.Events, tw.Limited
		r.Timeline = s.sync.ClientFormat(ctx, userID, a.req.DeviceID, timeline)
		r.Limited = &limited
		r.PrevBatch = tw.PrevBatch
		if a.incremental {
			live := 0
			for i := len(timeline) - 1; i >= 0 && timeline[i].StreamPos > a.since; i-- {
				live++
			}
			r.NumLive = &live
		}
		if len(timeline) > 0 {
			news = true
		}
		if expanded {
			r.ExpandedTimeline, r.ExpandedTimelineStable = true, true
			news = true
		}
	}

	// The state at upper.
	var state map[matrixevents.StateTuple]rooms.StoredEvent
	if c.Membership == "join" {
		snap, err := s.rooms.Current(ctx, c.RoomID)
		if err != nil {
			return nil, false, err
		}
		state = snap.State
	} else {
		list, err := s.store.StateAt(ctx, c.RoomID, upper)
		if err != nil {
			return nil, false, err
		}
		state = make(map[matrixevents.StateTuple]rooms.StoredEvent, len(list))
		for _, se := range list {
			state[matrixevents.StateTuple{Type: se.Event.Type(), StateKey: *se.Event.StateKey()}] = se
		}
	}

	// Required state: everything asked on a first send; later what changed
	// and what the request newly asks.
	spec := a.rr.state
	lazy := spec.lazyMembers() && !spec.all()
	lazyUsers := map[string]bool{}
	if lazy {
		for _, se := range timeline {
			lazyUsers[se.Event.Sender()] = true
			if se.Event.Type() == matrixevents.TypeMember {
				lazyUsers[*se.Event.StateKey()] = true
			}
		}
	}
	send := map[matrixevents.StateTuple]rooms.StoredEvent{}
	var changed map[matrixevents.StateTuple]bool
	if initial {
		if lazy {
			a.next.resetMembers(c.RoomID, a.owned)
		}
		for key, se := range state {
			if spec.wants(key, userID) || (lazy && key.Type == matrixevents.TypeMember && lazyUsers[key.StateKey]) {
				send[key] = se
			}
		}
	} else {
		var err error
		if changed, err = s.changedState(ctx, c.RoomID, fromBound, upper); err != nil {
			return nil, false, err
		}
		sentMembers := a.prev.members[c.RoomID]
		for key := range changed {
			se, ok := state[key]
			if !ok {
				continue
			}
			if spec.wants(key, userID) || (lazy && key.Type == matrixevents.TypeMember && (lazyUsers[key.StateKey] || sentMembers[key.StateKey] != "")) {
				send[key] = se
			}
		}
		if hadConfig {
			added := spec.added(old.state)
			for key, se := range state {
				if added.wants(key, userID) {
					send[key] = se
				}
			}
		}
		if lazy {
			for u := range lazyUsers {
				key := matrixevents.StateTuple{Type: matrixevents.TypeMember, StateKey: u}
				if se, ok := state[key]; ok && sentMembers[u] != se.Event.EventID() {
					send[key] = se
				}
			}
		}
	}
	if lazy {
		for key, se := range send {
			if key.Type == matrixevents.TypeMember {
				a.next.setMember(c.RoomID, key.StateKey, se.Event.EventID(), a.owned)
			}
		}
	}
	if len(send) > 0 {
		list := make([]rooms.StoredEvent, 0, len(send))
		for _, se := range send {
			list = append(list, se)
		}
		sortByPos(list)
		r.RequiredState = s.sync.ClientFormat(ctx, userID, a.req.DeviceID, list)
		news = true
	}

	// Room metadata, when first sent or changed.
	nameChanged := initial || changed[matrixevents.StateTuple{Type: "m.room.name"}]
	avatarChanged := initial || changed[matrixevents.StateTuple{Type: "m.room.avatar"}]
	membersChanged := initial
	for key := range changed {
		if key.Type == matrixevents.TypeMember {
			membersChanged = true
		}
	}
	name := contentString(state, "m.room.name", "name")
	// A name or avatar removed since the room was sent is null; on a first
	// send, absent.
	if nameChanged && (name != "" || !initial) {
		r.Name = nullableString(name)
		news = true
	}
	if avatar := contentString(state, "m.room.avatar", "url"); avatarChanged && (avatar != "" || !initial) {
		r.Avatar = nullableString(avatar)
		news = true
	}
	if c.Membership == "join" && membersChanged {
		ms, err := s.rooms.MemberCounts(ctx, c.RoomID)
		if err != nil {
			return nil, false, err
		}
		r.JoinedCount, r.InvitedCount = &ms.Joined, &ms.Invited
		if name == "" {
			r.Heroes = heroes(ms.FirstMembers, userID, state)
		}
		news = true
	}
	if c.Membership == "join" {
		counts, err := s.sync.Unread(ctx, userID, c.RoomID, c.MembershipPos, a.to)
		if err != nil {
			return nil, false, err
		}
		r.NotificationCount, r.HighlightCount = counts.NotificationCount, counts.HighlightCount
	}
	if c.MembershipPos > fromBound {
		news = true
	}
	return r, news, nil
}

// changedState are the state keys whose event differs between the
// room's state at from and at to.
func (s *Service) changedState(ctx context.Context, roomID string, from, to int64) (map[matrixevents.StateTuple]bool, error) {
	if from >= to {
		return nil, nil
	}
	fromGroup, err := s.store.StateGroupAt(ctx, roomID, from)
	if err != nil {
		return nil, err
	}
	toGroup, err := s.store.StateGroupAt(ctx, roomID, to)
	if err != nil || fromGroup == toGroup {
		return nil, err
	}
	before := map[matrixevents.StateTuple]string{}
	if fromGroup != 0 {
		list, err := s.store.StateGroup(ctx, fromGroup)
		if err != nil {
			return nil, err
		}
		for _, se := range list {
			before[matrixevents.StateTuple{Type: se.Event.Type(), StateKey: *se.Event.StateKey()}] = se.Event.EventID()
		}
	}
	out := map[matrixevents.StateTuple]bool{}
	if toGroup != 0 {
		list, err := s.store.StateGroup(ctx, toGroup)
		if err != nil {
			return nil, err
		}
		for _, se := range list {
			key := matrixevents.StateTuple{Type: se.Event.Type(), StateKey: *se.Event.StateKey()}
			if before[key] != se.Event.EventID() {
				out[key] = true
			}
		}
	}
	return out, nil
}

func sortByPos(list []rooms.StoredEvent) {
	slices.SortFunc(list, func(a, b rooms.StoredEvent) int { return cmp.Compare(a.StreamPos, b.StreamPos) })
}

// nullableString is s as JSON, null when empty.
func nullableString(s string) json.RawMessage {
	if s == "" {
		return json.RawMessage("null")
	}
	return mustJSON(s)
}

// contentString is a string field of a state event's content ("" when
// absent).
func contentString(state map[matrixevents.StateTuple]rooms.StoredEvent, typ, field string) string {
	se, ok := state[matrixevents.StateTuple{Type: typ}]
	if !ok {
		return ""
	}
	var content map[string]any
	if json.Unmarshal(se.Event.Content(), &content) != nil {
		return ""
	}
	v, _ := content[field].(string)
	return v
}

// heroes are members other than the user, with their profiles.
func heroes(members []string, self string, state map[matrixevents.StateTuple]rooms.StoredEvent) []Hero {
	var out []Hero
	for _, m := range members {
		if m == self || len(out) == maxHeroes {
			continue
		}
		h := Hero{UserID: m}
		if se, ok := state[matrixevents.StateTuple{Type: matrixevents.TypeMember, StateKey: m}]; ok {
			var content struct {
				DisplayName string `json:"displayname"`
				AvatarURL   string `json:"avatar_url"`
			}
			_ = json.Unmarshal(se.Event.Content(), &content)
			h.DisplayName, h.AvatarURL = content.DisplayName, content.AvatarURL
		}
		out = append(out, h)
	}
	return out
}
