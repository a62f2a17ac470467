package guest

import (
	"context"
	"fmt"
)

// Throttles for guests (MSC3419's security note: "Homeservers may want to
// put stricter rate limits on guest accounts, particularly for sending
// state events", G-10). Every refusal is a *LimitError, answered 429
// M_LIMIT_EXCEEDED with retry_after_ms. The live-guest cap is applied by
// Register.

// AllowSend takes one token of a guest's event budget, or of its
// state-event budget for state events (rate_limits.guest_events,
// rate_limits.guest_state_events). Callers apply it to guests only.
func (s *Service) AllowSend(userID string, state bool) error {
	lim, what := s.eventLimit, "events"
	if state {
		lim, what = s.stateLimit, "state events"
	}
	if ok, retry := lim.Allow(userID); !ok {
		return &LimitError{Reason: "guests may send only so many " + what + "; slow down or register an account", RetryAfter: retry}
	}
	return nil
}

// AllowToDevice takes one token of a guest's to-device budget
// (rate_limits.guest_to_device). Callers apply it to guests only.
func (s *Service) AllowToDevice(userID string) error {
	if ok, retry := s.toDeviceLimit.Allow(userID); !ok {
		return &LimitError{Reason: "guests may send only so many to-device messages; slow down or register an account", RetryAfter: retry}
	}
	return nil
}

// AllowWrite takes one token of a guest's budget for the other writes
// that take room on disk: filter and key uploads
// (rate_limits.guest_writes). Callers apply it to guests only.
func (s *Service) AllowWrite(userID string) error {
	if ok, retry := s.writeLimit.Allow(userID); !ok {
		return &LimitError{Reason: "guests may store only so much so fast; slow down or register an account", RetryAfter: retry}
	}
	return nil
}

// AllowURLPreview takes one token of a guest's budget of URL previews
// fetched for it (rate_limits.guest_url_previews): each makes the server
// fetch a page someone else chose. Callers apply it to guests only, and
// only when the preview is not cached.
func (s *Service) AllowURLPreview(userID string) error {
	if ok, retry := s.previewLimit.Allow(userID); !ok {
		return &LimitError{Reason: "guests may preview only so many links; slow down or register an account", RetryAfter: retry}
	}
	return nil
}

// CheckRoomCap refuses a guest joining one more room when it is already
// in guest_access.max_rooms rooms. Rejoining a room it is in is fine. It
// answers early; the room service enforces the cap atomically.
func (s *Service) CheckRoomCap(ctx context.Context, userID, roomID string) error {
	max := s.opts.Access.MaxRooms
	if max <= 0 {
		return nil
	}
	joined, err := s.rooms.JoinedRooms(ctx, userID)
	if err != nil {
		return err
	}
	for _, id := range joined {
		if id == roomID {
			return nil
		}
	}
	if len(joined) >= max {
		return &LimitError{Reason: RoomCapReason(max), RetryAfter: CapRetryAfter}
	}
	return nil
}

// RoomCapReason is the refusal of a guest's join beyond
// guest_access.max_rooms. The room service says it too: it checks the
// cap again inside the transaction that writes the join, so concurrent
// joins cannot pass it together (CheckRoomCap is only the early answer).
func RoomCapReason(max int) string {
	return fmt.Sprintf("guests may be in at most %d rooms; leave one first or register an account", max)
}
