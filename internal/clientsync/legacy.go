package clientsync

import (
	"context"
	"encoding/json"
	"time"

	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// RoomInitialSync is a snapshot of one room: how clients preview a
// world_readable room before (or without) joining it (G-33). The caller
// need not be a member; history visibility decides what it sees, and
// nothing records that it looked (G-34).
func (s *Service) RoomInitialSync(ctx context.Context, userID, roomID string, limit int) (map[string]any, error) {
	if limit <= 0 {
		limit = 10
	}
	page, err := s.rooms.Messages(ctx, userID, roomID, rooms.MessagesQuery{Backwards: true, Limit: limit})
	if err != nil {
		return nil, err
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
		start = 0
	}
	end := s.stream.Current()
	visibility := "private"
	if snap.Info.IsPublic {
		visibility = "public"
	}
	out := map[string]any{
		"room_id": roomID,
		"messages": map[string]any{
			"chunk": s.rooms.ClientEvents(ctx, chronological, true),
			"start": rooms.FormatToken(start),
			"end":   Token{Pos: end}.String(),
		},
		"state":        s.rooms.ClientEvents(ctx, state, true),
		"visibility":   visibility,
		"account_data": []any{},
		"presence":     []any{},
	}
	if m := snap.Membership(userID); m != "" {
		out["membership"] = m
	}
	return out, nil
}

// EventsPage is an /events answer.
type EventsPage struct {
	Start string                     `json:"start"`
	End   string                     `json:"end"`
	Chunk []matrixevents.ClientEvent `json:"chunk"`
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
	if from != nil {
		pos = from.Pos
	}
	startTok := Token{Pos: pos}.String()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	if stopping == nil {
		stopping = context.Background()
	}
	for {
		w := s.notifier.Listen("", []string{roomID})
		to := s.stream.Current()
		page := EventsPage{Start: startTok, End: Token{Pos: to}.String(), Chunk: []matrixevents.ClientEvent{}}
		if to > pos {
			upper := to
			got, err := s.rooms.Messages(ctx, userID, roomID, rooms.MessagesQuery{From: &pos, To: &upper, Limit: maxEventsChunk})
			if err != nil {
				s.notifier.Stop(w)
				return EventsPage{}, err
			}
			if len(got.Events) == maxEventsChunk {
				// More remain: resume right after the last one returned.
				page.End = Token{Pos: got.Events[len(got.Events)-1].StreamPos}.String()
			}
			page.Chunk = s.rooms.ClientEvents(ctx, got.Events, true)
		}
		if len(page.Chunk) > 0 || timeout <= 0 {
			s.notifier.Stop(w)
			return page, nil
		}
		// Nothing visible yet: move past what was read and wait.
		pos = to
		page.End = Token{Pos: to}.String()
		select {
		case <-w.C:
			s.notifier.Stop(w)
		case <-deadline.C:
			s.notifier.Stop(w)
			return page, nil
		case <-stopping.Done():
			s.notifier.Stop(w)
			return page, nil
		case <-ctx.Done():
			s.notifier.Stop(w)
			return EventsPage{}, ctx.Err()
		}
	}
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
	page := EventsPage{Start: Token{Pos: since}.String(), End: Token{Pos: tok.Pos}.String(), Chunk: []matrixevents.ClientEvent{}}
	for roomID, jr := range resp.Rooms.Join {
		for _, ev := range jr.Timeline.Events {
			ev.RoomID = roomID
			page.Chunk = append(page.Chunk, ev)
		}
	}
	return page, nil
}

// InitialSync is the deprecated GET /initialSync: every room of the user
// with recent messages and state.
func (s *Service) InitialSync(ctx context.Context, userID string, limit int, archived bool) (map[string]any, error) {
	memberships, err := s.store.UserMemberships(ctx, userID)
	if err != nil {
		return nil, err
	}
	roomsOut := []map[string]any{}
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
		entry, err := s.RoomInitialSync(ctx, userID, m.RoomID, limit)
		if err != nil {
			if m.Membership == "invite" {
				entry = map[string]any{"room_id": m.RoomID, "membership": "invite"}
			} else {
				return nil, err
			}
		}
		roomsOut = append(roomsOut, entry)
	}
	var accountData []json.RawMessage
	if s.clientData != nil {
		changes, err := s.clientData.AccountDataSince(ctx, userID, 0, s.stream.Current())
		if err != nil {
			return nil, err
		}
		for _, ev := range changes.Global {
			accountData = append(accountData, mustJSON(ev))
		}
	}
	if accountData == nil {
		accountData = []json.RawMessage{}
	}
	return map[string]any{
		"end":          Token{Pos: s.stream.Current()}.String(),
		"rooms":        roomsOut,
		"presence":     []any{},
		"account_data": accountData,
	}, nil
}
