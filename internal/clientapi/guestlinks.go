package clientapi

import (
	"encoding/json"
	"net/http"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/guest"
	"foyer/internal/httpapi"
)

// Foyer's own client API lives beside the Matrix one, under its own
// prefix, so no client mistakes it for the spec's.
const foyerClientV1 = "/_foyer/client/v1"

// guestLinkRoutes are room guest links: members with the power to invite
// create, list and revoke them; anyone may redeem one.
func (a *API) guestLinkRoutes() []httpapi.Route {
	const links = foyerClientV1 + "/rooms/{roomId}/guest_links"
	return []httpapi.Route{
		{Method: "POST", Path: links, Access: httpapi.UserOnly, Handle: a.createGuestLink},
		{Method: "GET", Path: links, Access: httpapi.UserOnly, Handle: a.listGuestLinks},
		{Method: "DELETE", Path: links + "/{token}", Access: httpapi.UserOnly, Handle: a.revokeGuestLink},
		{Method: "POST", Path: foyerClientV1 + "/guest_links/{token}/redeem", Access: httpapi.Open, Handle: a.redeemGuestLink},
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
	if err := httpapi.ReadOptionalJSON(r, &req); err != nil {
		return err
	}
	lr := guest.LinkRequest{RoomID: roomID, Creator: httpapi.Principal(r).UserID}
	if req.MaxUses != nil {
		if *req.MaxUses < 1 {
			return httpapi.ErrInvalidParam("max_uses must be a positive integer; leave it out for unlimited uses")
		}
		lr.MaxUses = *req.MaxUses
	}
	if req.ExpiresInMS != nil {
		if *req.ExpiresInMS < 1 || *req.ExpiresInMS > int64(100*365*24*time.Hour/time.Millisecond) {
			return httpapi.ErrInvalidParam("expires_in_ms must be a positive number of milliseconds; leave it out for a link that does not expire")
		}
		lr.ExpiresIn = time.Duration(*req.ExpiresInMS) * time.Millisecond
	}
	l, err := a.Guests.CreateLink(r.Context(), lr)
	if err != nil {
		return httpapi.GuestError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, a.linkJSON(l))
	return nil
}

func (a *API) listGuestLinks(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	links, err := a.Guests.ListLinks(r.Context(), roomID, httpapi.Principal(r).UserID)
	if err != nil {
		return httpapi.GuestError(err)
	}
	out := make([]guestLinkJSON, 0, len(links))
	for _, l := range links {
		out = append(out, a.linkJSON(l))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"guest_links": out})
	return nil
}

func (a *API) revokeGuestLink(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	if err := a.Guests.RevokeLink(r.Context(), roomID, httpapi.Principal(r).UserID, r.PathValue("token")); err != nil {
		return a.keepTokenOutOfLogs(r, httpapi.GuestError(err))
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

// redeemGuestLink registers a guest and joins it to the link's room. The
// answer is /register's, plus room_id.
func (a *API) redeemGuestLink(w http.ResponseWriter, r *http.Request) error {
	if err := a.Guests.AllowRedeem(httpapi.ClientLimitKey(r)); err != nil {
		return httpapi.GuestError(err)
	}
	var body map[string]json.RawMessage
	if err := httpapi.ReadOptionalJSON(r, &body); err != nil {
		return err
	}
	var displayName string
	_ = json.Unmarshal(body["initial_device_display_name"], &displayName)
	token := r.PathValue("token")
	var sess *accounts.UIASession
	if flows, _ := a.guestFlows(); flows != nil {
		// A link that cannot be used says so before anyone solves a check
		// for it.
		if err := a.Guests.CheckRedeemable(r.Context(), token); err != nil {
			return a.keepTokenOutOfLogs(r, httpapi.GuestError(err))
		}
		var done bool
		var err error
		// Each link has sessions of its own: a check passed for one link
		// does not redeem another.
		sess, done, err = a.guestHumanCheck(w, r, "redeem_guest_link:"+token, body["auth"])
		if err != nil || !done {
			return err
		}
	}
	red, err := a.Guests.Redeem(r.Context(), token, displayName, httpapi.ClientIP(r))
	if err != nil {
		return a.keepTokenOutOfLogs(r, httpapi.GuestError(err))
	}
	a.Metrics.Registrations.WithLabelValues("guest").Inc()
	res := map[string]string{
		"user_id": red.UserID, "access_token": red.AccessToken, "device_id": red.DeviceID,
		"home_server": a.Config.ServerName, "room_id": red.RoomID,
	}
	a.finishHumanCheck(sess, res)
	httpapi.WriteJSON(w, http.StatusOK, res)
	return nil
}

// keepTokenOutOfLogs logs an internal error of a route whose path holds
// a link token itself, with the token's prefix only: writeError would
// log the whole path.
func (a *API) keepTokenOutOfLogs(r *http.Request, err error) error {
	if _, ok := httpapi.AsMatrixError(err); ok || r.Context().Err() != nil {
		return err
	}
	a.Log.ErrorContext(r.Context(), "internal error", "method", r.Method, "route", "guest link", "link", guest.TokenPrefix(r.PathValue("token")), "err", err)
	return httpapi.NewError(http.StatusInternalServerError, "M_UNKNOWN", "internal server error")
}
