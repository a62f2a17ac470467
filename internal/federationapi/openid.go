package federationapi

import (
	"errors"
	"net/http"

	"foyer/internal/accounts"
	"foyer/internal/httpapi"
)

// openIDUserInfo is the federation API's userinfo: it answers which user
// an OpenID token belongs to.
func (a *API) openIDUserInfo(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("access_token")
	if token == "" {
		return httpapi.ErrMissingToken()
	}
	userID, err := a.OpenID.UserFor(r.Context(), token)
	if errors.Is(err, accounts.ErrNotFound) {
		return httpapi.ErrUnknownToken("unknown or expired OpenID token")
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"sub": userID})
	return nil
}
