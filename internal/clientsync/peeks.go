package clientsync

import (
	"context"
	"encoding/json"
	"sync"

	"foyer/internal/refusal"
	"foyer/internal/rooms"
)

// Peeking (MSC2753): a device follows a world_readable room in sync,
// under rooms.peek, without joining it. A peek is the device's own; it
// ends with /unpeek, when the user's membership in the room changes (a
// join moves the room to rooms.join for good), when the room stops being
// world_readable, or with the device.

// Peek is one device's peek into a room, made at StreamPos.
type Peek struct {
	UserID, DeviceID, RoomID string
	StreamPos                int64
}

// PeekStore keeps peeks.
type PeekStore interface {
	AddPeek(ctx context.Context, p Peek) error
	RemovePeek(ctx context.Context, userID, deviceID, roomID string) error
	RemoveRoomPeeks(ctx context.Context, roomID string) error
	Peeks(ctx context.Context, userID, deviceID string) ([]Peek, error)
}

// noPeeks remembers devices known to peek into nothing, so the long-polls
// of the many devices that never peek skip the query. Only StartPeek adds
// peeks, and it forgets the device; a fill that raced with it is not kept.
type noPeeks struct {
	mu      sync.Mutex
	gen     uint64
	devices map[string]bool
}

const maxNoPeeksEntries = 100000

func (n *noPeeks) known(key string) (bool, uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.devices[key], n.gen
}

func (n *noPeeks) remember(key string, gen uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.gen != gen {
		return
	}
	if n.devices == nil || len(n.devices) > maxNoPeeksEntries {
		n.devices = map[string]bool{}
	}
	n.devices[key] = true
}

func (n *noPeeks) forget(key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.gen++
	delete(n.devices, key)
}

// usePeeks enables peeking, kept in store.
func (s *Service) usePeeks(store PeekStore) {
	s.peeks = store
	// Listeners run under the room's lock: read the event, not the room.
	s.rooms.OnEvent(func(se rooms.StoredEvent) {
		if se.Event.Type() != "m.room.history_visibility" || se.Event.StateKey() == nil || *se.Event.StateKey() != "" {
			return
		}
		var c struct {
			HistoryVisibility string `json:"history_visibility"`
		}
		if json.Unmarshal(se.Event.Content(), &c) == nil && c.HistoryVisibility == "world_readable" {
			return
		}
		if err := store.RemoveRoomPeeks(context.Background(), se.Event.RoomID()); err != nil {
			s.log.Warn("ending peeks of a room that is no longer world_readable", "room_id", se.Event.RoomID(), "err", err)
		}
	})
}

// StartPeek makes the device peek into a world_readable room; the room
// turns up in the device's next sync. A room the user has joined needs
// no peek.
func (s *Service) StartPeek(ctx context.Context, userID, deviceID, roomID string) error {
	if s.peeks == nil {
		return refusal.New(refusal.Forbidden, "peeking is not enabled")
	}
	snap, err := s.rooms.Current(ctx, roomID) // an unknown room: 404
	if err != nil {
		return err
	}
	if snap.Membership(userID) == "join" {
		return nil
	}
	if snap.HistoryVisibility() != "world_readable" {
		return refusal.New(refusal.Forbidden, "only world_readable rooms can be peeked into; join %s instead", roomID)
	}
	s.noPeeks.forget(userID + "|" + deviceID)
	pos, done, err := s.stream.Reserve(ctx)
	if err != nil {
		return err
	}
	err = s.peeks.AddPeek(ctx, Peek{UserID: userID, DeviceID: deviceID, RoomID: roomID, StreamPos: pos})
	done()
	if err != nil {
		return err
	}
	s.WakeAt(pos, []string{userID}, nil)
	return nil
}

// StopPeek ends the device's peek into a room, if any.
func (s *Service) StopPeek(ctx context.Context, userID, deviceID, roomID string) error {
	if s.peeks == nil {
		return nil
	}
	return s.peeks.RemovePeek(ctx, userID, deviceID, roomID)
}

// livePeeks are the device's peeks still in force: the room is still
// world_readable and the user's membership has not changed since.
func (s *Service) livePeeks(ctx context.Context, req *Request, memberships []rooms.RoomMembership) ([]Peek, error) {
	if s.peeks == nil || req.DeviceID == "" {
		return nil, nil
	}
	key := req.UserID + "|" + req.DeviceID
	none, gen := s.noPeeks.known(key)
	if none {
		return nil, nil
	}
	all, err := s.peeks.Peeks(ctx, req.UserID, req.DeviceID)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		s.noPeeks.remember(key, gen)
		return nil, nil
	}
	changedAt := make(map[string]int64, len(memberships))
	for _, m := range memberships {
		changedAt[m.RoomID] = m.StreamPos
	}
	var live []Peek
	for _, p := range all {
		if changedAt[p.RoomID] > p.StreamPos {
			continue
		}
		snap, err := s.rooms.Current(ctx, p.RoomID)
		if err != nil {
			return nil, err
		}
		if snap.HistoryVisibility() == "world_readable" {
			live = append(live, p)
		}
	}
	return live, nil
}

// peekedRoom is a peeked room's section: the whole (limited) timeline
// and state when the peek is new to this sync, else what happened since.
func (s *Service) peekedRoom(ctx context.Context, req *Request, p Peek, since, to int64, initial bool) (*JoinedRoom, error) {
	full := initial || p.StreamPos > since || req.FullState
	lower := since
	if initial || p.StreamPos > since {
		lower = 0
	}
	if !full && !s.changes.eventsMaybeSince(p.RoomID, since) {
		return nil, nil
	}
	tl, err := s.timeline(ctx, req, p.RoomID, lower, to, 0)
	if err != nil {
		return nil, err
	}
	state, err := s.stateFor(ctx, req, p.RoomID, tl, since, to, full)
	if err != nil {
		return nil, err
	}
	if !full && len(tl.events) == 0 && len(state) == 0 {
		return nil, nil
	}
	pr := newJoinedRoom()
	if pr.Timeline.Events, err = s.formatEvents(ctx, req, tl.events); err != nil {
		return nil, err
	}
	pr.Timeline.Limited = tl.limited || (full && !initial && tl.earlier)
	pr.Timeline.PrevBatch = tl.prevBatch()
	if pr.State.Events, err = s.formatEvents(ctx, req, state); err != nil {
		return nil, err
	}
	ms, err := s.rooms.MemberCounts(ctx, p.RoomID)
	if err != nil {
		return nil, err
	}
	pr.Summary = summarise(ms, req.UserID)
	return pr, nil
}
