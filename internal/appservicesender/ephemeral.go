package appservicesender

import (
	"context"
	"encoding/json"
	"slices"

	"foyer/internal/appservice"
)

// addDeviceListsLocked merges device-list changes into those waiting.
func (w *worker) addDeviceListsLocked(changed, left []string) {
	if w.devices == nil {
		w.devices = &DeviceLists{}
	}
	for _, u := range changed {
		if !slices.Contains(w.devices.Changed, u) {
			w.devices.Changed = append(w.devices.Changed, u)
		}
	}
	for _, u := range left {
		if !slices.Contains(w.devices.Left, u) {
			w.devices.Left = append(w.devices.Left, u)
		}
	}
}

// Ephemeral data (MSC2409) reaches services that asked for it through
// the next transaction. It is not kept across restarts: typing, receipts
// and presence are of the moment, and a receipt or presence that matters
// is read again from the server by a service that needs it.

// maxEphemeralQueued bounds what waits for the dispatcher; beyond it
// (a service far behind) the newest are dropped, never the writer blocked.
const maxEphemeralQueued = 4096

// maxEphemeralPerService bounds what waits for one service's next
// transaction; beyond it the oldest go.
const maxEphemeralPerService = 1000

// ephemeralItem is one ephemeral event with what decides who sees it.
type ephemeralItem struct {
	// roomID: those interested in the room see it; userID (presence):
	// those interested in the user or one of the user's rooms.
	roomID, userID string
	event          json.RawMessage
	// typing: the event is m.typing of roomID, made at dispatch.
	typing bool
}

// Typing is told of a change of who types in roomID (typing.Service
// OnChange listener). Who types is read when the event is dispatched,
// outside the typing service's notification.
func (s *Sender) Typing(roomID string) {
	if s.opts.TypingUsers == nil || !s.wantsEphemeral() {
		return
	}
	s.queueEphemeral(ephemeralItem{roomID: roomID, typing: true})
}

// Receipt is told of a public read receipt.
func (s *Sender) Receipt(roomID, userID, eventID, threadID string, ts int64) {
	if !s.wantsEphemeral() {
		return
	}
	r := map[string]any{"ts": ts}
	if threadID != "" {
		r["thread_id"] = threadID
	}
	ev, _ := json.Marshal(map[string]any{"type": "m.receipt", "room_id": roomID,
		"content": map[string]any{eventID: map[string]any{"m.read": map[string]any{userID: r}}}})
	s.queueEphemeral(ephemeralItem{roomID: roomID, event: ev})
}

// Presence is told of a user's new presence.
func (s *Sender) Presence(userID, presence string, statusMsg *string, lastActiveTS int64, now int64) {
	if !s.wantsEphemeral() {
		return
	}
	content := map[string]any{"presence": presence}
	if statusMsg != nil {
		content["status_msg"] = *statusMsg
	}
	if lastActiveTS > 0 {
		content["last_active_ago"] = max(now-lastActiveTS, 0)
	}
	ev, _ := json.Marshal(map[string]any{"type": "m.presence", "sender": userID, "content": content})
	s.queueEphemeral(ephemeralItem{userID: userID, event: ev})
}

func (s *Sender) wantsEphemeral() bool {
	for _, w := range s.workers {
		if w.as.PushesEphemeral() {
			return true
		}
	}
	return false
}

func (s *Sender) queueEphemeral(it ephemeralItem) {
	select {
	case s.ephemeralIn <- it:
	default:
		s.opts.Log.Warn("application service ephemeral queue full; dropping an event")
	}
}

// dispatchEphemeral hands each ephemeral event to the services that
// should see it; it reads the database, so it runs apart from the
// writers that report the events.
func (s *Sender) dispatchEphemeral(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-s.ephemeralIn:
			if it.typing {
				users := s.opts.TypingUsers(it.roomID)
				if users == nil {
					users = []string{}
				}
				it.event, _ = json.Marshal(map[string]any{"type": "m.typing", "room_id": it.roomID,
					"content": map[string]any{"user_ids": users}})
			}
			for _, w := range s.workers {
				if !w.as.PushesEphemeral() {
					continue
				}
				ok, err := s.ephemeralFor(ctx, w.as, it)
				if err != nil {
					s.opts.Log.Warn("deciding who sees an ephemeral event", "appservice", w.as.ID, "err", err)
					continue
				}
				if ok {
					w.addEphemeral(it.event)
				}
			}
		}
	}
}

func (s *Sender) ephemeralFor(ctx context.Context, as *appservice.Service, it ephemeralItem) (bool, error) {
	if it.roomID != "" {
		return roomOfInterest(ctx, as, s.opts.Feed, it.roomID)
	}
	if as.OwnsUser(it.userID) {
		return true, nil
	}
	rooms, err := s.opts.Feed.RoomsWithMembership(ctx, it.userID, "join")
	if err != nil {
		return false, err
	}
	for _, r := range rooms {
		ok, err := roomOfInterest(ctx, as, s.opts.Feed, r)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func (w *worker) addEphemeral(ev json.RawMessage) {
	w.mu.Lock()
	w.ephemeral = append(w.ephemeral, ev)
	if n := len(w.ephemeral); n > maxEphemeralPerService {
		w.ephemeral = slices.Delete(w.ephemeral, 0, n-maxEphemeralPerService)
	}
	w.mu.Unlock()
	w.poke()
}
