package clientsync

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"foyer/internal/clientdata"
	"foyer/internal/rooms"
)

// legacyPresence adds content.user_id, which the deprecated APIs carry.
func legacyPresence(ev map[string]any) json.RawMessage {
	if c, ok := ev["content"].(map[string]any); ok {
		c["user_id"] = ev["sender"]
		if _, has := c["status_msg"]; !has {
			c["status_msg"] = nil
		}
	}
	return mustJSON(ev)
}

// membersPresence is the presence of a room's joined members.
func (s *Service) membersPresence(ctx context.Context, snap rooms.RoomSnapshot) ([]json.RawMessage, error) {
	out := []json.RawMessage{}
	if s.presence == nil {
		return out, nil
	}
	for k, se := range snap.State {
		if k.Type != "m.room.member" || se.Event.Membership() != "join" {
			continue
		}
		st, err := s.presence.Get(ctx, k.StateKey)
		if err != nil {
			return nil, err
		}
		out = append(out, legacyPresence(s.presence.Event(st)))
	}
	return out, nil
}

// RoomInitialSync is a snapshot of one room: how clients preview a
// world_readable room before (or without) joining it (G-33). The caller
// need not be a member; history visibility decides what it sees, and
// nothing records that it looked (G-34).
func (s *Service) RoomInitialSync(ctx context.Context, userID, roomID string, limit int) (map[string]any, error) {
	accountData, err := s.allAccountData(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.roomInitialSync(ctx, userID, roomID, limit, accountData.Rooms)
}

// allAccountData is all of userID's account data, global and by room.
func (s *Service) allAccountData(ctx context.Context, userID string) (clientdata.AccountDataChanges, error) {
	if s.clientData == nil {
		return clientdata.AccountDataChanges{}, nil
	}
	return s.clientData.AccountDataSince(ctx, userID, 0, s.stream.Current())
}

func (s *Service) roomInitialSync(ctx context.Context, userID, roomID string, limit int, accountData map[string][]clientdata.AccountDataEvent) (map[string]any, error) {
	if limit < 0 {
		limit = 10
	}
	// Limit 0 still checks access, then returns no messages.
	page, err := s.rooms.Messages(ctx, userID, roomID, rooms.MessagesQuery{Backwards: true, Limit: max(limit, 1)})
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		page.Events = nil
	}
	state, err := s.rooms.State(ctx, userID, roomID)
	if err != nil {
		return nil, err
	}
	snap, err := s.rooms.Current(ctx, roomID)
	if err != nil {
		return nil, err
	}
	events := page.Events
	chronological := make([]rooms.StoredEvent, len(events))
	for i, se := range events {
		chronological[len(events)-1-i] = se
	}
	// start is a pagination token before the chunk; end is where /events
	// continues, at the newest position the chunk was read at.
	start := page.End
	if !page.HasEnd {
		start = rooms.TopoPos{}
	}
	end := s.stream.Current()
	visibility := "private"
	if snap.Info.IsPublic {
		visibility = "public"
	}
	membership := snap.Membership(userID)
	out := map[string]any{
		"room_id": roomID,
		"messages": map[string]any{
			"chunk": s.legacyEvents(ctx, chronological),
			"start": rooms.FormatTopoToken(start),
			"end":   Token{Pos: end}.String(),
		},
		"state":        s.legacyEvents(ctx, state),
		"visibility":   visibility,
		"account_data": []any{},
		"presence":     []json.RawMessage{},
		"receipts":     []any{},
	}
	if membership != "" {
		out["membership"] = membership
	}
	// Members' presence, receipts and the caller's room account data (its
	// tags among them), for members only: a departed member or a
	// previewer learns nothing more about who is there now.
	if membership == "join" {
		presence, err := s.membersPresence(ctx, snap)
		if err != nil {
			return nil, err
		}
		out["presence"] = presence
		ad := []json.RawMessage{}
		for _, ev := range accountData[roomID] {
			ad = append(ad, mustJSON(ev))
		}
		out["account_data"] = ad
		if s.clientData != nil {
			receipts, err := s.clientData.ReceiptsSince(ctx, []string{roomID}, 0, end, userID)
			if err != nil {
				return nil, err
			}
			if c, ok := receipts[roomID]; ok {
				out["receipts"] = []any{map[string]any{"type": "m.receipt", "room_id": roomID, "content": c}}
			}
		}
	}
	return out, nil
}

// EventsPage is an /events answer.
type EventsPage struct {
	Start string            `json:"start"`
	End   string            `json:"end"`
	Chunk []json.RawMessage `json:"chunk"`
}

// legacyEvent adds what the deprecated APIs (/events, initialSync) carried
// beside the modern fields: user_id, a copy of sender.
func legacyEvent(ev map[string]any) json.RawMessage {
	if sender, ok := ev["sender"]; ok {
		ev["user_id"] = sender
	}
	return mustJSON(ev)
}

// legacyEvents formats stored events for the deprecated APIs.
func (s *Service) legacyEvents(ctx context.Context, events []rooms.StoredEvent) []json.RawMessage {
	out := []json.RawMessage{}
	for _, ce := range s.rooms.ClientEvents(ctx, events, true) {
		var ev map[string]any
		_ = json.Unmarshal(mustJSON(ce), &ev)
		out = append(out, legacyEvent(ev))
	}
	return out
}

// maxEventsChunk bounds one /events answer.
const maxEventsChunk = 100

// RoomEvents long-polls one room's new events for a previewer or member
// (GET /events?room_id=). The caller listens on the room only, so members
// never learn of it (G-34); the answer resumes exactly at end.
func (s *Service) RoomEvents(ctx context.Context, userID, roomID string, from *Token, timeout time.Duration, stopping context.Context) (EventsPage, error) {
	// Check read access first, so a refusal is immediate.
	if _, err := s.rooms.Messages(ctx, userID, roomID, rooms.MessagesQuery{Backwards: true, Limit: 1}); err != nil {
		return EventsPage{}, err
	}
	pos := s.stream.Current()
	typingSeen := int64(-1)
	if s.typing != nil {
		typingSeen = s.typing.Version()
	}
	if from != nil {
		pos, typingSeen = from.Pos, from.Typing
	}
	startTok := Token{Pos: pos, Typing: max(typingSeen, 0)}.String()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w := s.notifier.Listen("", []string{roomID})
		to := s.stream.Current()
		typingNow := int64(0)
		if s.typing != nil {
			typingNow = s.typing.Version()
		}
		page := EventsPage{Start: startTok, End: Token{Pos: to, Typing: typingNow}.String(), Chunk: []json.RawMessage{}}
		if to > pos {
			upper := to
			got, err := s.rooms.Messages(ctx, userID, roomID, rooms.MessagesQuery{From: &rooms.PageToken{Stream: pos}, To: &rooms.PageToken{Stream: upper}, Limit: maxEventsChunk})
			if err != nil {
				s.notifier.Stop(w)
				return EventsPage{}, err
			}
			if len(got.Events) == maxEventsChunk {
				// More remain: resume right after the last one returned.
				page.End = Token{Pos: got.Events[len(got.Events)-1].StreamPos}.String()
			}
			page.Chunk = s.legacyEvents(ctx, got.Events)
			extra, err := s.previewExtras(ctx, roomID, pos, to)
			if err != nil {
				s.notifier.Stop(w)
				return EventsPage{}, err
			}
			page.Chunk = append(page.Chunk, extra...)
		}
		if s.typing != nil && typingSeen >= 0 && (typingSeen > typingNow || slices.Contains(s.typing.ChangedSince(typingSeen), roomID)) {
			users := s.typing.Current(roomID)
			if users == nil {
				users = []string{}
			}
			page.Chunk = append(page.Chunk, mustJSON(map[string]any{"type": "m.typing", "room_id": roomID, "content": map[string]any{"user_ids": users}}))
		}
		typingSeen = typingNow
		if len(page.Chunk) > 0 || timeout <= 0 {
			s.notifier.Stop(w)
			return page, nil
		}
		// Nothing visible yet: move past what was read and wait.
		pos = to
		if woken, err := s.waitForChange(ctx, stopping, w, deadline.C); err != nil {
			return EventsPage{}, err
		} else if !woken {
			return page, nil
		}
	}
}

// previewExtras are what a room preview shows besides events, as a
// member's client would: members' presence changes and public receipts
// in (from, to]. Nothing about the previewer itself is ever recorded.
func (s *Service) previewExtras(ctx context.Context, roomID string, from, to int64) ([]json.RawMessage, error) {
	var out []json.RawMessage
	if s.clientData != nil {
		receipts, err := s.clientData.ReceiptsSince(ctx, []string{roomID}, from, to, "")
		if err != nil {
			return nil, err
		}
		if c, ok := receipts[roomID]; ok {
			out = append(out, mustJSON(map[string]any{"type": "m.receipt", "room_id": roomID, "content": c}))
		}
	}
	if s.presence != nil {
		changes, err := s.presence.ChangedBetween(ctx, from, to)
		if err != nil {
			return nil, err
		}
		if len(changes) > 0 {
			snap, err := s.rooms.Current(ctx, roomID)
			if err != nil {
				return nil, err
			}
			for _, st := range changes {
				if snap.Membership(st.UserID) == "join" {
					out = append(out, legacyPresence(s.presence.Event(st)))
				}
			}
		}
	}
	return out, nil
}

// UserEvents is the deprecated global /events stream: new events in every
// room the user is in.
func (s *Service) UserEvents(ctx context.Context, userID string, from *Token, timeout time.Duration, stopping context.Context) (EventsPage, error) {
	since := s.stream.Current()
	if from != nil {
		since = from.Pos
	}
	req := &Request{UserID: userID, Since: &Token{Pos: since}, Timeout: timeout, Stopping: stopping}
	limit := maxEventsChunk
	req.Filter.Room = &RoomFilter{Timeline: &RoomEventFilter{EventFilter: EventFilter{Limit: &limit}}}
	resp, err := s.Sync(ctx, req)
	if err != nil {
		return EventsPage{}, err
	}
	tok, _ := ParseToken(resp.NextBatch)
	page := EventsPage{Start: Token{Pos: since}.String(), End: Token{Pos: tok.Pos}.String(), Chunk: []json.RawMessage{}}
	// The stream carried everything a sync now splits into sections:
	// room events, then typing and receipts and room account data (each
	// with its room_id), global account data and presence.
	withRoom := func(roomID string, events []json.RawMessage, legacy bool) {
		for _, raw := range events {
			var ev map[string]any
			if json.Unmarshal(raw, &ev) != nil {
				continue
			}
			if roomID != "" {
				ev["room_id"] = roomID
			}
			if legacy {
				page.Chunk = append(page.Chunk, legacyEvent(ev))
			} else {
				page.Chunk = append(page.Chunk, mustJSON(ev))
			}
		}
	}
	roomIDs := slices.Sorted(maps.Keys(resp.Rooms.Join))
	for _, roomID := range roomIDs {
		withRoom(roomID, resp.Rooms.Join[roomID].Timeline.Events, true)
	}
	for _, roomID := range roomIDs {
		jr := resp.Rooms.Join[roomID]
		withRoom(roomID, jr.Ephemeral.Events, false)
		withRoom(roomID, jr.AccountData.Events, false)
	}
	withRoom("", resp.AccountData.Events, false)
	for _, raw := range resp.Presence.Events {
		var ev map[string]any
		if json.Unmarshal(raw, &ev) == nil {
			page.Chunk = append(page.Chunk, legacyPresence(ev))
		}
	}
	return page, nil
}

// InitialSync is the deprecated GET /initialSync: every room of the user
// with recent messages and state.
func (s *Service) InitialSync(ctx context.Context, userID string, limit int, archived bool) (map[string]any, error) {
	all, err := s.store.UserMemberships(ctx, userID)
	if err != nil {
		return nil, err
	}
	memberships, _ := splitForgotten(all)
	remote, err := s.rooms.RemoteMemberships(ctx, userID)
	if err != nil {
		return nil, err
	}
	memberships, remote = withRemote(memberships, remote)
	allAccountData, err := s.allAccountData(ctx, userID)
	if err != nil {
		return nil, err
	}
	roomsOut := []map[string]any{}
	receipts := []any{}
	for _, m := range memberships {
		switch m.Membership {
		case "join", "invite":
		case "leave", "ban":
			if !archived {
				continue
			}
		default:
			continue
		}
		entry, err := s.roomInitialSync(ctx, userID, m.RoomID, limit, allAccountData.Rooms)
		if err != nil {
			if m.Membership == "invite" {
				entry = map[string]any{"room_id": m.RoomID, "membership": "invite"}
			} else {
				return nil, err
			}
		}
		if r, ok := entry["receipts"].([]any); ok {
			receipts = append(receipts, r...)
		}
		roomsOut = append(roomsOut, entry)
	}
	// Invites to rooms of other servers: nothing here to show but that.
	for _, m := range remote {
		if m.Membership == "invite" {
			roomsOut = append(roomsOut, map[string]any{"room_id": m.RoomID, "membership": "invite"})
		}
	}
	accountData := []json.RawMessage{}
	for _, ev := range allAccountData.Global {
		accountData = append(accountData, mustJSON(ev))
	}
	presence := []json.RawMessage{}
	if s.presence != nil {
		mates, err := s.rooms.RoomMates(ctx, userID)
		if err != nil {
			return nil, err
		}
		// The caller's own presence comes first, room or no room.
		mates = append([]string{userID}, slices.DeleteFunc(mates, func(u string) bool { return u == userID })...)
		for _, u := range mates {
			st, err := s.presence.Get(ctx, u)
			if err != nil {
				return nil, err
			}
			presence = append(presence, legacyPresence(s.presence.Event(st)))
		}
	}
	return map[string]any{
		"end":          Token{Pos: s.stream.Current()}.String(),
		"rooms":        roomsOut,
		"presence":     presence,
		"account_data": accountData,
		"receipts":     receipts,
	}, nil
}
