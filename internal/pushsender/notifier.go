package pushsender

import (
	"foyer/internal/retry"

	"context"
	"encoding/json"
	"errors"
	"time"

	"foyer/internal/push"
	"foyer/internal/refusal"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// eventsPerBatch bounds the events turned into notifications in one
// transaction.
const eventsPerBatch = 100

// pruneEvery is how often old notifications are deleted.
const pruneEvery = time.Hour

// notify follows the event stream from cursor, turning events into
// notifications and queue entries, until ctx ends.
// notifyBackoff is the wait after the notifier failed to turn events
// into notifications.
var notifyBackoff = retry.Backoff{Min: time.Second, Max: time.Minute}

// notifyEvery spaces the notifier's passes: each is a durable write on
// the database that event sends write to, and under a stream of sends one
// pass a few milliseconds later covers many commits instead of taking a
// commit of its own after each. A quiet room's first event is notified
// at once.
const notifyEvery = 25 * time.Millisecond

func (s *Sender) notify(ctx context.Context, cursor int64) {
	defer s.wg.Done()
	backoff := time.Duration(0)
	lastPrune := time.Time{}
	var lastPass time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.streamMoved:
		}
		if wait := notifyEvery - time.Since(lastPass); wait > 0 && !retry.Wait(ctx, wait, nil) {
			return
		}
		lastPass = time.Now()
		for ctx.Err() == nil {
			next, n, err := s.processBatch(ctx, cursor)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				backoff = notifyBackoff.Next(backoff)
				s.opt.Log.Error("push sender: turning events into notifications; retrying", "after", cursor, "retry_in", backoff.String(), "error", err)
				if !retry.Wait(ctx, backoff, nil) {
					return
				}
				continue
			}
			backoff, cursor = 0, next
			if n == 0 {
				break
			}
		}
		if now := s.now(); now.Sub(lastPrune) > pruneEvery {
			lastPrune = now
			if err := s.store.Prune(ctx, now.Add(-keepNotifications).UnixMilli()); err != nil && ctx.Err() == nil {
				s.opt.Log.Warn("push sender: pruning old notifications", "error", err)
			}
		}
	}
}

// processBatch handles the next events after cursor and returns the new
// cursor and how many events it read.
func (s *Sender) processBatch(ctx context.Context, cursor int64) (int64, int, error) {
	to := s.stream.Current()
	if to <= cursor {
		return cursor, 0, nil
	}
	events, err := s.store.EventsAfter(ctx, cursor, to, eventsPerBatch)
	if err != nil {
		return cursor, 0, err
	}
	// A full batch ends at its last event; invites into rooms this server
	// is not in are read up to the same place.
	upper := to
	if len(events) == eventsPerBatch {
		upper = events[len(events)-1].StreamPos
	}
	invites, err := s.store.RemoteInvitesAfter(ctx, cursor, upper)
	if err != nil {
		return cursor, 0, err
	}
	if len(events) == 0 && len(invites) == 0 {
		// Nothing to notify up to to; the stored cursor stays behind,
		// which only costs a re-read after a restart.
		return to, 0, nil
	}
	var ns []Notification
	for _, se := range events {
		out, err := s.notificationsFor(ctx, se)
		if err != nil {
			return cursor, 0, err
		}
		ns = append(ns, out...)
	}
	for _, ri := range invites {
		n, ok, err := s.remoteInviteNotification(ctx, ri)
		if err != nil {
			return cursor, 0, err
		}
		if ok {
			ns = append(ns, n)
		}
	}
	keys, err := s.store.Record(ctx, ns, upper, s.now().UnixMilli())
	if err != nil {
		return cursor, 0, err
	}
	for _, k := range keys {
		s.wake(k)
	}
	return upper, len(events) + len(invites), nil
}

// remoteInviteNotification evaluates the invitee's rules over an invite
// into a room this server is not in: the room is known only by the
// invite's stripped state, which also names it.
func (s *Sender) remoteInviteNotification(ctx context.Context, ri RemoteInvite) (Notification, bool, error) {
	var ev struct {
		Type     string          `json:"type"`
		StateKey *string         `json:"state_key"`
		Sender   string          `json:"sender"`
		Content  json.RawMessage `json:"content"`
	}
	if json.Unmarshal(ri.Event, &ev) != nil {
		return Notification{}, false, nil
	}
	pe := push.Prepare(push.Event{Type: ev.Type, StateKey: ev.StateKey, Sender: ev.Sender, RoomID: ri.RoomID,
		EventID: ri.EventID, Content: ev.Content})
	m, ok, err := s.rules.EvaluatePrepared(ctx, ri.UserID, pe, push.RoomContext{})
	if err != nil || !ok || !m.Notify {
		return Notification{}, false, err
	}
	return Notification{UserID: ri.UserID, RoomID: ri.RoomID, EventID: ri.EventID, StreamPos: ri.StreamPos,
		Highlight: m.Highlight, Actions: m.Actions, TS: s.now().UnixMilli(), Event: ri.Event, RoomName: strippedRoomName(ri.State)}, true, nil
}

// strippedRoomName is the room's name, else its canonical alias, from
// stripped state.
func strippedRoomName(state json.RawMessage) string {
	var events []struct {
		Type     string `json:"type"`
		StateKey string `json:"state_key"`
		Content  struct {
			Name  string `json:"name"`
			Alias string `json:"alias"`
		} `json:"content"`
	}
	_ = json.Unmarshal(state, &events)
	var name, alias string
	for _, e := range events {
		switch {
		case e.Type == "m.room.name" && e.StateKey == "":
			name = e.Content.Name
		case e.Type == "m.room.canonical_alias" && e.StateKey == "":
			alias = e.Content.Alias
		}
	}
	if name != "" {
		return name
	}
	return alias
}

// notificationsFor evaluates the push rules of the room's local joined
// members (and of a local user the event invites) over the event, with
// the room's current state.
func (s *Sender) notificationsFor(ctx context.Context, se rooms.StoredEvent) ([]Notification, error) {
	ev := se.Event
	roomID := ev.RoomID()
	room, err := s.rooms.PushRoomFor(ctx, roomID)
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind == refusal.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	candidates := room.LocalMembers
	var invitee string
	if ev.Type() == matrixevents.TypeMember && ev.Membership() == "invite" && ev.StateKey() != nil {
		if _, server, _ := matrixevents.SplitUserID(*ev.StateKey()); server == s.opt.ServerName {
			invitee = *ev.StateKey()
		}
	}
	if len(candidates) == 0 && invitee == "" {
		return nil, nil
	}
	pe := push.Prepare(push.Event{Type: ev.Type(), StateKey: ev.StateKey(), Sender: ev.Sender(), RoomID: roomID,
		EventID: ev.EventID(), Content: ev.Content()})
	rc := push.RoomContext{MemberCount: room.JoinedMembers, SenderPowerLevel: room.SenderLevel(ev.Sender()),
		NotificationPowerLevels: room.NotificationLevels}
	shared := push.Shared(pe, rc)
	ts := s.now().UnixMilli()
	var out []Notification
	evaluate := func(userID, displayName string) error {
		if s.opt.Ignores != nil {
			ignored, err := s.opt.Ignores.IgnoredBy(ctx, userID)
			if err != nil || ignored[ev.Sender()] {
				return err
			}
		}
		rc.DisplayName = displayName
		m, ok, err := s.rules.EvaluateShared(ctx, userID, pe, rc, shared)
		if err != nil || !ok || !m.Notify {
			return err
		}
		out = append(out, Notification{UserID: userID, RoomID: roomID, EventID: ev.EventID(), StreamPos: se.StreamPos,
			Highlight: m.Highlight, Actions: m.Actions, TS: ts})
		return nil
	}
	for userID, displayName := range candidates {
		if err := evaluate(userID, displayName); err != nil {
			return nil, err
		}
	}
	if _, joined := candidates[invitee]; invitee != "" && !joined {
		if err := evaluate(invitee, room.DisplayName(invitee)); err != nil {
			return nil, err
		}
	}
	return out, nil
}
