package clientapi

import (
	"errors"
	"net/http"

	"foyer/internal/accounts"
	"foyer/internal/httpapi"
)

// refresh is POST /refresh: a refresh token buys a new access token and
// a new refresh token for the same device. It needs no access token (the
// old one may have expired); the refresh token is the credential.
func (a *API) refresh(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RefreshToken *string `json:"refresh_token"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.RefreshToken == nil {
		return httpapi.ErrMissingParam("refresh_token is required")
	}
	creds, err := a.Accounts.Refresh(r.Context(), *req.RefreshToken)
	switch {
	case errors.Is(err, accounts.ErrNotFound), errors.Is(err, accounts.ErrRefreshTokenUsed):
		// The spec's answer for a token unknown or already used. The
		// device's chain stays: whoever holds its current tokens goes on.
		return httpapi.ErrUnknownToken("unrecognised or already used refresh token")
	case err != nil:
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"access_token":  creds.AccessToken,
		"refresh_token": creds.RefreshToken,
		"expires_in_ms": creds.ExpiresInMS,
	})
	return nil
}
