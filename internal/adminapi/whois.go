package adminapi

import (
	"errors"
	"net/http"

	"foyer/internal/accounts"
	"foyer/internal/httpapi"
)

// whois answers GET /admin/whois/{userId}: a user's devices with where and
// with what client each was last seen. The spec lets a server limit it to
// the user themself and server admins; Foyer does. Each device is one
// session here (a login is a device), and Foyer keeps its last connection.
func (a *API) whois(w http.ResponseWriter, r *http.Request) error {
	p := httpapi.Principal(r)
	target := r.PathValue("userId")
	if target != p.UserID && !p.IsAdmin {
		return httpapi.ErrForbidden("only server admins may look up other users")
	}
	if _, err := a.Accounts.GetUser(r.Context(), target); errors.Is(err, accounts.ErrNotFound) {
		return httpapi.ErrNotFound("no user %s on this server", target)
	} else if err != nil {
		return err
	}
	devs, err := a.Accounts.ListDevices(r.Context(), target)
	if err != nil {
		return err
	}
	type connection struct {
		IP        string `json:"ip,omitempty"`
		LastSeen  int64  `json:"last_seen,omitempty"`
		UserAgent string `json:"user_agent,omitempty"`
	}
	type session struct {
		Connections []connection `json:"connections"`
	}
	type device struct {
		Sessions []session `json:"sessions"`
	}
	out := make(map[string]device, len(devs))
	for _, d := range devs {
		conns := []connection{}
		if d.LastSeenTS > 0 || d.LastSeenIP != "" {
			conns = append(conns, connection{IP: d.LastSeenIP, LastSeen: d.LastSeenTS, UserAgent: d.LastSeenUserAgent})
		}
		out[d.DeviceID] = device{Sessions: []session{{Connections: conns}}}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"user_id": target, "devices": out})
	return nil
}
