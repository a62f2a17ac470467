package httpapi

import (
	"errors"
	"net/http"

	"foyer/internal/accounts"
	"foyer/internal/appservice"
)

// authoriseAppService makes an application service's request: as its
// sender, or, with ?user_id=, as a user of its namespace that exists
// (identity assertion). With MSC3202 it may also name one of that user's
// devices (?device_id=, or the unstable org.matrix.msc3202.device_id).
// The as_token is checked against the registrations in memory; it is
// never looked up (or stored) among users' tokens.
func (a *API) authoriseAppService(r *http.Request, as *appservice.Service, access Access) error {
	ctx := r.Context()
	q := r.URL.Query()
	userID := q.Get("user_id")
	if userID == "" {
		userID = as.SenderID
	}
	if !as.OwnsUser(userID) {
		return ErrForbidden("the application service cannot masquerade as %s: it is not in its namespace", userID)
	}
	u, err := a.Accounts.GetUser(ctx, userID)
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		return ErrForbidden("the application service has not registered %s", userID)
	case err != nil:
		return err
	case u.Deactivated:
		return ErrForbidden("%s is deactivated", userID)
	}
	sess := accounts.Session{UserID: userID, Kind: u.Kind, IsAdmin: u.IsAdmin, AppServiceID: as.ID}
	deviceID := q.Get("device_id")
	if deviceID == "" {
		deviceID = q.Get("org.matrix.msc3202.device_id")
	}
	if deviceID != "" {
		if _, err := a.Accounts.GetDevice(ctx, userID, deviceID); errors.Is(err, accounts.ErrNotFound) {
			return ErrForbidden("%s has no device %s", userID, deviceID)
		} else if err != nil {
			return err
		}
		sess.DeviceID = deviceID
	}
	if access == AdminOnly && !sess.IsAdmin {
		return ErrForbidden("you are not a server admin")
	}
	principalSet(r, &sess)
	return nil
}
