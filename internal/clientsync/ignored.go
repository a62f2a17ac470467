package clientsync

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"foyer/internal/refusal"
	"foyer/internal/rooms"
)

// Ignoring users (m.ignored_user_list account data): what an ignored
// user sends stays out of the ignorer's syncs — timeline events other
// than state (clients still need the room's state right), invites and
// typing — from the next sync after the list changes.

const ignoredUserListType = "m.ignored_user_list"

// ignoredUsers caches each syncing user's ignore list. A global account
// data write by the user drops the entry; a fill that raced with a write
// is not kept.
type ignoredUsers struct {
	mu    sync.Mutex
	gen   uint64
	lists map[string]map[string]bool
}

const maxIgnoreEntries = 100000

func (ig *ignoredUsers) forget(userID string) {
	ig.mu.Lock()
	ig.gen++
	delete(ig.lists, userID)
	ig.mu.Unlock()
}

// IgnoredBy is the set of users userID ignores (nil when none), for the
// other read paths that leave ignored users' messages out.
func (s *Service) IgnoredBy(ctx context.Context, userID string) (map[string]bool, error) {
	if s.clientData == nil {
		return nil, nil
	}
	ig := &s.ignored
	ig.mu.Lock()
	list, ok := ig.lists[userID]
	gen := ig.gen
	ig.mu.Unlock()
	if ok {
		return list, nil
	}
	raw, err := s.clientData.GetAccountData(ctx, userID, "", ignoredUserListType)
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind == refusal.NotFound {
		raw, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c struct {
		IgnoredUsers map[string]json.RawMessage `json:"ignored_users"`
	}
	if raw != nil && json.Unmarshal(raw, &c) == nil && len(c.IgnoredUsers) > 0 {
		list = make(map[string]bool, len(c.IgnoredUsers))
		for u := range c.IgnoredUsers {
			if u != userID {
				list[u] = true
			}
		}
	}
	ig.mu.Lock()
	if ig.gen == gen {
		if ig.lists == nil || len(ig.lists) > maxIgnoreEntries {
			ig.lists = map[string]map[string]bool{}
		}
		ig.lists[userID] = list
	}
	ig.mu.Unlock()
	return list, nil
}

// DropIgnored removes the non-state events sent by ignored users.
func DropIgnored(events []rooms.StoredEvent, ignored map[string]bool) []rooms.StoredEvent {
	if len(ignored) == 0 {
		return events
	}
	out := events[:0:0]
	for _, se := range events {
		if se.Event.StateKey() == nil && ignored[se.Event.Sender()] {
			continue
		}
		out = append(out, se)
	}
	return out
}

// invitedByIgnored reports whether userID's invite to roomID came from
// someone userID ignores.
func (s *Service) invitedByIgnored(ctx context.Context, req *Request, roomID string) (bool, error) {
	if len(req.ignored) == 0 {
		return false, nil
	}
	snap, err := s.rooms.Current(ctx, roomID)
	if err != nil {
		return false, err
	}
	se, ok := snap.Get("m.room.member", req.UserID)
	return ok && req.ignored[se.Event.Sender()], nil
}
