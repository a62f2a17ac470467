package guest

import (
	"errors"
	"time"
)

// Refusals the HTTP layer maps to Matrix errors.
var (
	// ErrGuestsDisabled: the server has guests switched off (`guests`).
	ErrGuestsDisabled = errors.New("guest access is disabled on this server")
	// ErrLinksOnly: open guest registration is off; guest links work.
	ErrLinksOnly = errors.New("guest registration on this server is by guest link only; ask a room member for a link, or register an account")
	// ErrRoomForbidsGuests: the room's m.room.guest_access is not can_join.
	ErrRoomForbidsGuests = errors.New("this room does not allow guests")
	// ErrPublicRoom: guest_access.forbid_public_rooms keeps guests out of
	// rooms in the public room directory.
	ErrPublicRoom = errors.New("guests may not join rooms listed in this server's public room directory; register an account to join this room")
	// ErrNotPermitted: the caller may not manage this room's guest links.
	ErrNotPermitted = errors.New("only room members allowed to invite may manage the room's guest links")
	// ErrNotGuest: the account is not a live guest.
	ErrNotGuest = errors.New("there is no live guest account with that user ID")
)

// LinkError says why a guest link cannot be used: it does not exist
// (NotFound) or is no longer valid (revoked, expired, used up).
type LinkError struct {
	NotFound bool
	Reason   string
}

func (e *LinkError) Error() string {
	if e.NotFound {
		return "this guest link does not exist or is no longer valid"
	}
	return "this guest link is no longer valid: " + e.Reason
}

// ErrLinkNotFound is what stores answer for an unknown link.
var (
	ErrLinkNotFound  = &LinkError{NotFound: true}
	errLinkRevoked   = &LinkError{Reason: "it was revoked"}
	errLinkExpired   = &LinkError{Reason: "it has expired"}
	errLinkExhausted = &LinkError{Reason: "it has been used as many times as it allows"}
)

// IsLinkNotFound reports whether err says a link does not exist.
func IsLinkNotFound(err error) bool {
	var le *LinkError
	return errors.As(err, &le) && le.NotFound
}

// LimitError is a throttle or cap: answer 429 M_LIMIT_EXCEEDED with
// retry_after_ms.
type LimitError struct {
	Reason     string
	RetryAfter time.Duration
}

func (e *LimitError) Error() string { return e.Reason }

// CapRetryAfter is what a client hears when a cap (not a rate) refuses
// it: caps free up slowly (guests expire, leave rooms), so a minute.
const CapRetryAfter = time.Minute
