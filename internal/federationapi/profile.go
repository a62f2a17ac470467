package federationapi

import (
	"errors"
	"net/http"
	"strings"

	"foyer/internal/accounts"
	"foyer/internal/httpapi"
)

// queryProfile is GET /_matrix/federation/v1/query/profile: a local
// user's public profile, or one field of it, for a signed request.
func (a *API) queryProfile(w http.ResponseWriter, r *http.Request) error {
	userID := r.URL.Query().Get("user_id")
	if userID == "" {
		return httpapi.ErrMissingParam("user_id is required")
	}
	field := r.URL.Query().Get("field")
	switch field {
	case "", "displayname", "avatar_url":
	default:
		return httpapi.ErrInvalidParam("field must be displayname or avatar_url")
	}
	if !strings.HasSuffix(userID, ":"+a.Config.ServerName) {
		return httpapi.ErrNotFound("%s is not a user of this server", userID)
	}
	p, err := a.Accounts.GetProfile(r.Context(), userID)
	if errors.Is(err, accounts.ErrNotFound) {
		return httpapi.ErrNotFound("no such user")
	}
	if err != nil {
		return err
	}
	out := map[string]string{}
	if p.DisplayName != "" && field != "avatar_url" {
		out["displayname"] = p.DisplayName
	}
	if p.AvatarURL != "" && field != "displayname" {
		out["avatar_url"] = p.AvatarURL
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}
