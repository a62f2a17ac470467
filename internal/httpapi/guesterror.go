package httpapi

import (
	"errors"
	"net/http"

	"foyer/internal/accounts"
	"foyer/internal/guest"
	"foyer/internal/refusal"
)

// GuestError maps the guest policy's refusals to Matrix errors; the room
// service's pass through.
func GuestError(err error) error {
	var le *guest.LinkError
	var lim *guest.LimitError
	var inv *guest.LinkInviteError
	switch {
	case errors.As(err, &lim):
		e := ErrLimitExceeded(lim.RetryAfter)
		e.Message = lim.Reason
		return e
	case errors.As(err, &le) && le.NotFound:
		return ErrNotFound("%s", le.Error())
	case errors.As(err, &le):
		return ErrForbidden("%s", le.Error())
	case errors.As(err, &inv):
		var re *refusal.Error
		if errors.As(inv.Err, &re) {
			return ErrForbidden("%s", inv.Error())
		}
		return inv.Err
	case errors.Is(err, guest.ErrRoomForbidsGuests), errors.Is(err, guest.ErrPublicRoom):
		return ErrGuestForbidden("%s", err.Error())
	case errors.Is(err, guest.ErrGuestsDisabled), errors.Is(err, guest.ErrLinksOnly), errors.Is(err, guest.ErrNotPermitted):
		return ErrForbidden("%s", err.Error())
	case errors.Is(err, guest.ErrNotGuest):
		return ErrNotFound("%s", err.Error())
	case errors.Is(err, accounts.ErrExclusive):
		// Application services claim every guest number tried.
		return NewError(http.StatusBadRequest, "M_EXCLUSIVE", "guest user IDs are reserved by an application service")
	}
	return err
}
