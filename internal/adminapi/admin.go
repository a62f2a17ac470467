package adminapi

import (
	"net/http"
	"strconv"

	"foyer/internal/accounts"
	"foyer/internal/httpapi"
)

// Foyer's admin API, for server admins only (AdminOnly: a guest token
// gets 403 M_GUEST_ACCESS_FORBIDDEN, any other non-admin 403 M_FORBIDDEN).
const foyerAdminV1 = "/_foyer/admin/v1"

func (a *API) adminRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: "GET", Path: foyerAdminV1 + "/guests", Access: httpapi.AdminOnly, Handle: a.adminListGuests},
		{Method: "GET", Path: foyerAdminV1 + "/guests/count", Access: httpapi.AdminOnly, Handle: a.adminCountGuests},
		{Method: "POST", Path: foyerAdminV1 + "/guests/{userId}/deactivate", Access: httpapi.AdminOnly, Handle: a.adminDeactivateGuest},
		{Method: "POST", Path: foyerAdminV1 + "/guests/expire", Access: httpapi.AdminOnly, Handle: a.adminExpireGuests},
		// The spec's one admin endpoint: users may look themselves up too.
		{Method: "GET", Path: httpapi.ClientV3 + "/admin/whois/{userId}", Access: httpapi.UserOnly, Handle: a.whois},
	}
}

const (
	adminDefaultLimit = 100
	adminMaxLimit     = 1000
)

// adminListGuests pages through live guests, oldest first: ?from= is the
// offset a previous page's next_token gave, ?limit= the page size
// (default 100, at most 1000).
func (a *API) adminListGuests(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from := 0
	if v := q.Get("from"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return httpapi.ErrInvalidParam("from must be a next_token from an earlier page (a non-negative integer)")
		}
		from = n
	}
	limit, err := httpapi.ParseLimit(r, adminDefaultLimit)
	if err != nil {
		return err
	}
	if limit < 1 || limit > adminMaxLimit {
		return httpapi.ErrInvalidParam("limit must be between 1 and %d", adminMaxLimit)
	}
	// One more than asked tells whether there is a next page.
	list, err := a.Guests.ListGuests(r.Context(), from, limit+1)
	if err != nil {
		return err
	}
	total, err := a.Guests.CountLive(r.Context())
	if err != nil {
		return err
	}
	type guestJSON struct {
		UserID     string `json:"user_id"`
		CreatedTS  int64  `json:"created_ts"`
		LastSeenTS int64  `json:"last_seen_ts"`
		Devices    int    `json:"devices"`
		Rooms      int    `json:"rooms"`
	}
	out := make([]guestJSON, 0, len(list))
	for i, g := range list {
		if i == limit {
			break
		}
		out = append(out, guestJSON{UserID: g.UserID, CreatedTS: g.CreatedTS, LastSeenTS: g.LastSeenTS, Devices: g.Devices, Rooms: g.Rooms})
	}
	resp := map[string]any{"guests": out, "total": total}
	if len(list) > limit {
		resp["next_token"] = strconv.Itoa(from + limit)
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (a *API) adminCountGuests(w http.ResponseWriter, r *http.Request) error {
	n, err := a.Guests.CountLive(r.Context())
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]int64{"count": n})
	return nil
}

// adminDeactivateGuest removes one guest now: it leaves its rooms and
// loses its devices, keys and tokens. Only guests (kind guest) qualify.
func (a *API) adminDeactivateGuest(w http.ResponseWriter, r *http.Request) error {
	userID := r.PathValue("userId")
	if _, server, ok := accounts.SplitUserID(userID); !ok || server != a.Config.ServerName {
		return httpapi.ErrInvalidParam("%q is not a user ID of this server", userID)
	}
	if err := a.Guests.DeactivateGuest(r.Context(), userID); err != nil {
		return httpapi.GuestError(err)
	}
	a.Log.InfoContext(r.Context(), "admin deactivated a guest", "user_id", userID, "admin", httpapi.Principal(r).UserID)
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"user_id": userID, "deactivated": true})
	return nil
}

// adminExpireGuests runs guest expiry now and says how many expired.
func (a *API) adminExpireGuests(w http.ResponseWriter, r *http.Request) error {
	n, err := a.Guests.RunExpiry(r.Context())
	if err != nil {
		return err
	}
	a.Log.InfoContext(r.Context(), "admin ran guest expiry", "expired", n, "admin", httpapi.Principal(r).UserID)
	httpapi.WriteJSON(w, http.StatusOK, map[string]int{"expired": n})
	return nil
}
