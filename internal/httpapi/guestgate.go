package httpapi

import (
	"net/http"

	"foyer/internal/guest"
)

// guestExtensionGate refuses a guest a route of an extension group the
// operator switched off (guest_access.disabled_extensions).
func (a *API) guestExtensionGate(r *http.Request, rt Route) error {
	disabled := a.Config.GuestAccess.DisabledExtensions
	if len(disabled) == 0 || !IsGuest(Principal(r)) {
		return nil
	}
	if g := guest.ExtensionGroup(rt.Method, rt.Path); g != "" && a.Config.GuestAccess.GuestExtensionDisabled(g) {
		return ErrGuestForbidden("guest accounts cannot use this endpoint on this server; register an account to use it")
	}
	return nil
}
