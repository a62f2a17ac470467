package clientsync

import (
	"context"
	"encoding/json"

	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// withRemote splits the user's memberships between the rooms' own state
// here and remote memberships (invites received over federation, knocks
// sent through other servers, the leaves that ended them): for each
// room, the newer of the two is the user's membership.
func withRemote(local []rooms.RoomMembership, remote []rooms.RemoteMembership) ([]rooms.RoomMembership, []rooms.RemoteMembership) {
	if len(remote) == 0 {
		return local, nil
	}
	localPos := make(map[string]int64, len(local))
	for _, m := range local {
		localPos[m.RoomID] = m.StreamPos
	}
	var keptRemote []rooms.RemoteMembership
	remoteWins := map[string]bool{}
	for _, m := range remote {
		if pos, ok := localPos[m.RoomID]; ok && pos > m.StreamPos {
			continue
		}
		keptRemote = append(keptRemote, m)
		remoteWins[m.RoomID] = true
	}
	if len(remoteWins) == 0 {
		return local, nil
	}
	keptLocal := make([]rooms.RoomMembership, 0, len(local))
	for _, m := range local {
		if !remoteWins[m.RoomID] {
			keptLocal = append(keptLocal, m)
		}
	}
	return keptLocal, keptRemote
}

// addRemoteMemberships puts the user's remote memberships that changed
// in (since, to] into the response: an invite with its invite_state, a
// knock with its knock_state (the state the remote server gave, stripped,
// and the membership event itself), a leave with the leave event as its
// timeline.
func (s *Service) addRemoteMemberships(ctx context.Context, req *Request, resp *Response, remote []rooms.RemoteMembership, since, to int64, initial bool) {
	rf := req.Filter.room()
	for _, m := range remote {
		if m.StreamPos > to || !rf.allowsRoom(m.RoomID) {
			continue
		}
		changed := initial || m.StreamPos > since
		ev, err := matrixevents.ParseTrusted(m.RoomVersion, m.Event)
		if err != nil {
			s.log.WarnContext(ctx, "a stored remote membership does not parse", "room_id", m.RoomID, "err", err)
			continue
		}
		switch m.Membership {
		case "invite":
			if !changed || req.ignored[ev.Sender()] {
				continue
			}
			ir := &InvitedRoom{}
			ir.InviteState.Events = strippedRemoteState(m.State, ev)
			resp.Rooms.Invite[m.RoomID] = ir
		case "knock":
			if !changed {
				continue
			}
			kr := &KnockedRoom{}
			kr.KnockState.Events = strippedRemoteState(m.State, ev)
			resp.Rooms.Knock[m.RoomID] = kr
		case "leave":
			if (initial && rf.IncludeLeave) || (!initial && m.StreamPos > since) {
				// The user's own membership, as every served event says
				// (MSC4115).
				unsigned := mustJSON(map[string]string{"membership": ev.Membership()})
				resp.Rooms.Leave[m.RoomID] = &LeftRoom{
					State:       StateList{Events: []json.RawMessage{}},
					Timeline:    Timeline{Events: []json.RawMessage{mustJSON(matrixevents.ToClientEvent(ev, unsigned))}},
					AccountData: EventList{Events: []json.RawMessage{}},
				}
			}
		}
	}
}

// strippedRemoteState is the stripped form of a remote server's room
// state (full events or already stripped ones) with the user's own
// membership event, which replaces any member event of the user there.
func strippedRemoteState(state json.RawMessage, own matrixevents.Event) []StrippedEvent {
	var raws []json.RawMessage
	_ = json.Unmarshal(state, &raws)
	out := []StrippedEvent{}
	for _, raw := range raws {
		var e struct {
			Type     *string         `json:"type"`
			StateKey *string         `json:"state_key"`
			Sender   string          `json:"sender"`
			Content  json.RawMessage `json:"content"`
		}
		_ = json.Unmarshal(raw, &e)
		if e.Type == nil || e.StateKey == nil || (*e.Type == matrixevents.TypeMember && *e.StateKey == *own.StateKey()) {
			continue
		}
		content := e.Content
		if len(content) == 0 {
			content = json.RawMessage("{}")
		}
		stripped := StrippedEvent{Type: *e.Type, StateKey: *e.StateKey, Sender: e.Sender, Content: content}
		if *e.Type == matrixevents.TypeCreate && *e.StateKey == "" {
			stripped.Full = remoteFullCreateEvent(own, raw)
		}
		out = append(out, stripped)
	}
	return append(out, StrippedEvent{Type: own.Type(), StateKey: *own.StateKey(), Sender: own.Sender(), Content: own.Content()})
}
