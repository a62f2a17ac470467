package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"foyer/internal/guest"
	"foyer/internal/refusal"
)

// Foyer's own client API lives beside the Matrix one, under its own
// prefix, so no client mistakes it for the spec's.
const foyerClientV1 = "/_foyer/client/v1"

// guestLinkRoutes are room guest links: members with the power to invite
// create, list and revoke them; anyone may redeem one.
func (a *API) guestLinkRoutes() []route {
	const links = foyerClientV1 + "/rooms/{roomId}/guest_links"
	return []route{
		{Method: "POST", Path: links, Access: UserOnly, Handle: a.createGuestLink},
		{Method: "GET", Path: links, Access: UserOnly, Handle: a.listGuestLinks},
		{Method: "DELETE", Path: links + "/{token}", Access: UserOnly, Handle: a.revokeGuestLink},
		{Method: "POST", Path: foyerClientV1 + "/guest_links/{token}/redeem", Access: Open, Handle: a.redeemGuestLink},
	}
}

// guestLinkJSON is a link as the API shows it. max_uses and expires_at
// are null for unlimited and never.
type guestLinkJSON struct {
	Token     string `json:"token"`
	URL       string `json:"url,omitempty"`
	RoomID    string `json:"room_id"`
	Creator   string `json:"creator"`
	MaxUses   *int64 `json:"max_uses"`
	Uses      int64  `json:"uses"`
	ExpiresAt *int64 `json:"expires_at"`
	CreatedTS int64  `json:"created_ts"`
}

func (a *API) linkJSON(l guest.Link) guestLinkJSON {
	return guestLinkJSON{
		Token: l.Token, URL: a.Guests.URL(l), RoomID: l.RoomID, Creator: l.Creator,
		MaxUses: l.MaxUses, Uses: l.Uses, ExpiresAt: l.ExpiresTS, CreatedTS: l.CreatedTS,
	}
}

func (a *API) createGuestLink(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	var req struct {
		MaxUses     *int64 `json:"max_uses"`
		ExpiresInMS *int64 `json:"expires_in_ms"`
	}
	if err := readOptionalJSON(r, &req); err != nil {
		return err
	}
	lr := guest.LinkRequest{RoomID: roomID, Creator: principal(r).UserID}
	if req.MaxUses != nil {
		if *req.MaxUses < 1 {
			return errInvalidParam("max_uses must be a positive integer; leave it out for unlimited uses")
		}
		lr.MaxUses = *req.MaxUses
	}
	if req.ExpiresInMS != nil {
		if *req.ExpiresInMS < 1 || *req.ExpiresInMS > int64(100*365*24*time.Hour/time.Millisecond) {
			return errInvalidParam("expires_in_ms must be a positive number of milliseconds; leave it out for a link that does not expire")
		}
		lr.ExpiresIn = time.Duration(*req.ExpiresInMS) * time.Millisecond
	}
	l, err := a.Guests.CreateLink(r.Context(), lr)
	if err != nil {
		return guestError(err)
	}
	writeJSON(w, http.StatusOK, a.linkJSON(l))
	return nil
}

func (a *API) listGuestLinks(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	links, err := a.Guests.ListLinks(r.Context(), roomID, principal(r).UserID)
	if err != nil {
		return guestError(err)
	}
	out := make([]guestLinkJSON, 0, len(links))
	for _, l := range links {
		out = append(out, a.linkJSON(l))
	}
	writeJSON(w, http.StatusOK, map[string]any{"guest_links": out})
	return nil
}

func (a *API) revokeGuestLink(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	if err := a.Guests.RevokeLink(r.Context(), roomID, principal(r).UserID, r.PathValue("token")); err != nil {
		return a.keepTokenOutOfLogs(r, guestError(err))
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// redeemGuestLink registers a guest and joins it to the link's room. The
// answer is /register's, plus room_id.
func (a *API) redeemGuestLink(w http.ResponseWriter, r *http.Request) error {
	if err := a.Guests.AllowRedeem(clientLimitKey(r)); err != nil {
		return guestError(err)
	}
	var body map[string]json.RawMessage
	if err := readOptionalJSON(r, &body); err != nil {
		return err
	}
	var displayName string
	_ = json.Unmarshal(body["initial_device_display_name"], &displayName)
	red, err := a.Guests.Redeem(r.Context(), r.PathValue("token"), displayName, clientIP(r))
	if err != nil {
		return a.keepTokenOutOfLogs(r, guestError(err))
	}
	a.Metrics.Registrations.WithLabelValues("guest").Inc()
	writeJSON(w, http.StatusOK, map[string]string{
		"user_id": red.UserID, "access_token": red.AccessToken, "device_id": red.DeviceID,
		"home_server": a.Config.ServerName, "room_id": red.RoomID,
	})
	return nil
}

// keepTokenOutOfLogs logs an internal error of a route whose path holds
// a link token itself, with the token's prefix only: writeError would
// log the whole path.
func (a *API) keepTokenOutOfLogs(r *http.Request, err error) error {
	if _, ok := asMatrixError(err); ok || r.Context().Err() != nil {
		return err
	}
	a.Log.Error("internal error", "method", r.Method, "route", "guest link", "link", guest.TokenPrefix(r.PathValue("token")), "err", err)
	return newError(http.StatusInternalServerError, "M_UNKNOWN", "internal server error")
}

// guestError maps the guest policy's refusals to Matrix errors; the room
// service's pass through.
func guestError(err error) error {
	var le *guest.LinkError
	var lim *guest.LimitError
	var inv *guest.LinkInviteError
	switch {
	case errors.As(err, &lim):
		e := errLimitExceeded(lim.RetryAfter)
		e.Message = lim.Reason
		return e
	case errors.As(err, &le) && le.NotFound:
		return errNotFound("%s", le.Error())
	case errors.As(err, &le):
		return errForbidden("%s", le.Error())
	case errors.As(err, &inv):
		var re *refusal.Error
		if errors.As(inv.Err, &re) {
			return errForbidden("%s", inv.Error())
		}
		return inv.Err
	case errors.Is(err, guest.ErrRoomForbidsGuests), errors.Is(err, guest.ErrPublicRoom):
		return errGuestForbidden("%s", err.Error())
	case errors.Is(err, guest.ErrGuestsDisabled), errors.Is(err, guest.ErrLinksOnly), errors.Is(err, guest.ErrNotPermitted):
		return errForbidden("%s", err.Error())
	case errors.Is(err, guest.ErrNotGuest):
		return errNotFound("%s", err.Error())
	}
	return err
}
