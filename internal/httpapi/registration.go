package httpapi

import (
	"errors"
	"net/http"

	"foyer/internal/accounts"
)

// RegisterResponse answers a registration or a login.
type RegisterResponse struct {
	UserID      string `json:"user_id"`
	AccessToken string `json:"access_token,omitempty"`
	DeviceID    string `json:"device_id,omitempty"`
	HomeServer  string `json:"home_server"`
	// RefreshToken and ExpiresInMS are there only for a client that asked
	// for a refresh token; without them the access token does not expire.
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresInMS  int64  `json:"expires_in_ms,omitempty"`
}

// NewRegisterResponse is the answer that hands creds to the client.
func NewRegisterResponse(creds accounts.Credentials, serverName string) RegisterResponse {
	return RegisterResponse{
		UserID: creds.UserID, AccessToken: creds.AccessToken, DeviceID: creds.DeviceID, HomeServer: serverName,
		RefreshToken: creds.RefreshToken, ExpiresInMS: creds.ExpiresInMS,
	}
}

// UsernameError maps account errors of registration to Matrix errors.
func UsernameError(err error) error {
	var ue *accounts.UsernameError
	switch {
	case errors.As(err, &ue):
		return NewError(http.StatusBadRequest, "M_INVALID_USERNAME", "%s", ue.Reason)
	case errors.Is(err, accounts.ErrUserInUse):
		return NewError(http.StatusBadRequest, "M_USER_IN_USE", "that user ID is already taken")
	case errors.Is(err, accounts.ErrExclusive):
		return NewError(http.StatusBadRequest, "M_EXCLUSIVE", "that user ID is reserved by an application service")
	case errors.Is(err, accounts.ErrUpgradeMismatch):
		return ErrForbidden("to upgrade a guest, username must be the guest's own localpart")
	case errors.Is(err, accounts.ErrNotGuest):
		return ErrForbidden("guest_access_token is not the access token of a guest account")
	case errors.Is(err, accounts.ErrTokenExhausted):
		return NewError(http.StatusUnauthorized, "M_FORBIDDEN", "the registration token has no uses left or has expired")
	case errors.Is(err, accounts.ErrWeakPassword):
		return NewError(http.StatusBadRequest, "M_WEAK_PASSWORD", "%s", err.Error())
	}
	return err
}
