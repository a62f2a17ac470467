package httpapi

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"foyer/internal/guest"
)

// Every refusal of the guest policy has its status and errcode; anything
// else is an internal error (passed through, answered 500).
func TestGuestErrorMapping(t *testing.T) {
	internal := errors.New("disk on fire")
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{guest.ErrLinkNotFound, 404, "M_NOT_FOUND"},
		{&guest.LinkError{Reason: "it was revoked"}, 403, "M_FORBIDDEN"},
		{fmt.Errorf("%w: room changed", guest.ErrRoomForbidsGuests), 403, "M_GUEST_ACCESS_FORBIDDEN"},
		{guest.ErrPublicRoom, 403, "M_GUEST_ACCESS_FORBIDDEN"},
		{guest.ErrGuestsDisabled, 403, "M_FORBIDDEN"},
		{guest.ErrLinksOnly, 403, "M_FORBIDDEN"},
		{guest.ErrNotPermitted, 403, "M_FORBIDDEN"},
		{guest.ErrNotGuest, 404, "M_NOT_FOUND"},
		{&guest.LimitError{Reason: "slow down", RetryAfter: 1500 * time.Millisecond}, 429, "M_LIMIT_EXCEEDED"},
		{&guest.LinkInviteError{Err: internal}, 0, ""},
	} {
		got := GuestError(c.err)
		var me *Error
		if !errors.As(got, &me) {
			if c.status != 0 {
				t.Errorf("%v: not a Matrix error: %v", c.err, got)
			}
			continue
		}
		if me.Status != c.status || me.Code != c.code {
			t.Errorf("%v: got %d %s, want %d %s", c.err, me.Status, me.Code, c.status, c.code)
		}
		if me.Status == 429 && me.Extra["retry_after_ms"] != int64(1500) {
			t.Errorf("retry_after_ms: %v", me.Extra)
		}
	}
	if got := GuestError(internal); got != internal {
		t.Errorf("internal error rewritten: %v", got)
	}
}
