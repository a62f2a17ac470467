package clientapi

import (
	"net/http"

	"foyer/internal/httpapi"
)

func (a *API) capabilities(w http.ResponseWriter, r *http.Request) error {
	p := httpapi.Principal(r)
	isGuest := p.IsGuest()
	profileFields := map[string]any{"enabled": true}
	if isGuest {
		// Guests may change their display name and nothing else (G-15).
		profileFields["allowed"] = []string{"displayname"}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"capabilities": map[string]any{
		"m.change_password": map[string]bool{"enabled": !isGuest},
		"m.room_versions": map[string]any{
			"default":   a.RoomVersions.Default,
			"available": a.RoomVersions.Available,
		},
		"m.set_displayname":          map[string]bool{"enabled": true},
		"m.set_avatar_url":           map[string]bool{"enabled": !isGuest},
		"m.3pid_changes":             map[string]bool{"enabled": false},
		"m.get_login_token":          map[string]bool{"enabled": false},
		"m.profile_fields":           profileFields,
		"m.forget_forced_upon_leave": map[string]bool{"enabled": false},
	}})
	return nil
}
