package clientsync

import (
	"context"
	"slices"
	"sync"

	"foyer/internal/push"
	"foyer/internal/rooms"
)

// maxUnreadScan bounds how many unread events are evaluated per room;
// beyond it the counts stop growing (clients show "99+" long before).
const maxUnreadScan = 500

// unreadCounts keeps, per user and room, counts evaluated up to a
// position, so each sync evaluates only events it has not seen.
type unreadCounts struct {
	mu    sync.Mutex
	state map[[2]string]*unreadState
}

type unreadState struct {
	readPos, countedTo int64
	// readCheckedAt is the stream position when readPos was last read.
	readCheckedAt     int64
	notify, highlight int
	scanned           int
}

// unread computes unread_notifications for a joined room from the push
// rules: events by others after the user's read receipt (or after its
// join, when that is later: what came before is history, not unread, as
// in Synapse) that notify, and those that highlight.
func (s *Service) unread(ctx context.Context, userID, roomID string, joinedAt, to int64) (UnreadNotifications, error) {
	if s.push == nil || s.clientData == nil {
		return UnreadNotifications{}, nil
	}
	key := [2]string{userID, roomID}
	// The read position only moves with a receipt: reuse the one read
	// before unless a receipt was written in this room or by this user
	// since.
	s.unreadCache.mu.Lock()
	cached := s.unreadCache.state[key]
	s.unreadCache.mu.Unlock()
	var readPos int64
	if cached != nil && !s.changes.receiptsMaybeSince(userID, []string{roomID}, cached.readCheckedAt) {
		readPos = max(cached.readPos, joinedAt)
	} else {
		checkedAt := s.stream.Current()
		var err error
		if readPos, err = s.clientData.ReadUpTo(ctx, userID, roomID); err != nil {
			return UnreadNotifications{}, err
		}
		readPos = max(readPos, joinedAt)
		if cached != nil && cached.readPos == readPos {
			s.unreadCache.mu.Lock()
			cached.readCheckedAt = checkedAt
			s.unreadCache.mu.Unlock()
		} else {
			defer func() {
				s.unreadCache.mu.Lock()
				if st := s.unreadCache.state[key]; st != nil && st.readPos == readPos {
					st.readCheckedAt = checkedAt
				}
				s.unreadCache.mu.Unlock()
			}()
		}
	}
	s.unreadCache.mu.Lock()
	st := s.unreadCache.state[key]
	if st == nil || st.readPos != readPos || st.countedTo > to {
		st = &unreadState{readPos: readPos, countedTo: readPos}
		if s.unreadCache.state == nil {
			s.unreadCache.state = map[[2]string]*unreadState{}
		}
		s.unreadCache.state[key] = st
	}
	from := st.countedTo
	s.unreadCache.mu.Unlock()

	if from < to && st.scanned < maxUnreadScan {
		events, err := s.othersEvents(ctx, userID, roomID, from, to, maxUnreadScan-st.scanned)
		if err != nil {
			return UnreadNotifications{}, err
		}
		nc, err := s.rooms.NotifyContextFor(ctx, roomID, userID)
		if err != nil {
			return UnreadNotifications{}, err
		}
		var notify, highlight int
		for _, se := range events {
			ev := se.Event
			n, h, err := s.push.Evaluate(ctx, userID, push.Event{
				Type: ev.Type(), StateKey: ev.StateKey(), Sender: ev.Sender(), RoomID: roomID, EventID: ev.EventID(), Content: ev.Content(),
			}, push.RoomContext{
				MemberCount: nc.JoinedMembers, DisplayName: nc.DisplayName,
				SenderPowerLevel: nc.SenderLevel(ev.Sender()), NotificationPowerLevels: nc.NotificationLevels,
			})
			if err != nil {
				return UnreadNotifications{}, err
			}
			if n {
				notify++
			}
			if h {
				highlight++
			}
		}
		s.unreadCache.mu.Lock()
		if st.countedTo == from {
			st.notify += notify
			st.highlight += highlight
			st.scanned += len(events)
			st.countedTo = to
		}
		s.unreadCache.mu.Unlock()
	}
	s.unreadCache.mu.Lock()
	defer s.unreadCache.mu.Unlock()
	return UnreadNotifications{NotificationCount: st.notify, HighlightCount: st.highlight}, nil
}

// othersEvents are up to limit events of a room in (from, to] not sent
// by userID, oldest first. Every member woken by a message reads the
// same range: they share one read of all its events when it is short,
// and each leaves out its own.
func (s *Service) othersEvents(ctx context.Context, userID, roomID string, from, to int64, limit int) ([]rooms.StoredEvent, error) {
	// One limit for all, whatever each has scanned already.
	all, err := s.roomEvents(ctx, roomID, from, to, false, maxUnreadScan, rooms.EventFilter{})
	if err != nil {
		return nil, err
	}
	if len(all) < maxUnreadScan {
		// The whole range: the first limit of the others' events are what
		// the query would give.
		others := slices.DeleteFunc(all, func(se rooms.StoredEvent) bool { return se.Event.Sender() == userID })
		return others[:min(len(others), limit)], nil
	}
	return s.store.Events(ctx, roomID, from, to, false, limit, rooms.EventFilter{NotSenders: []string{userID}})
}
