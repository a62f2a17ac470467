package pushsender

import (
	"context"
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
func (s *Sender) notify(ctx context.Context, cursor int64) {
	defer s.wg.Done()
	backoff := time.Duration(0)
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.streamMoved:
		}
		for ctx.Err() == nil {
			next, n, err := s.processBatch(ctx, cursor)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				backoff = min(max(2*backoff, minBackoff), time.Minute)
				s.opt.Log.Error("push sender: turning events into notifications; retrying", "after", cursor, "retry_in", backoff.String(), "error", err)
				if !sleepUnless(ctx, backoff, nil) {
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
	if len(events) == 0 {
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
	next := events[len(events)-1].StreamPos
	keys, err := s.store.Record(ctx, ns, next, s.now().UnixMilli())
	if err != nil {
		return cursor, 0, err
	}
	for _, k := range keys {
		s.wake(k)
	}
	return next, len(events), nil
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
	ts := s.now().UnixMilli()
	var out []Notification
	evaluate := func(userID, displayName string) error {
		rc.DisplayName = displayName
		m, ok, err := s.rules.EvaluatePrepared(ctx, userID, pe, rc)
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
