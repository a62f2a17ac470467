package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"foyer/internal/accounts"
	"foyer/internal/httpapi"
)

func (a *API) loginFlows(w http.ResponseWriter, r *http.Request) error {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"flows": []map[string]string{{"type": accounts.StagePassword}, {"type": loginAppService}},
	})
	return nil
}

// userIdentifier is the identifier object of login and password UIA.
type userIdentifier struct {
	Type string `json:"type"`
	User string `json:"user"`
}

type loginRequest struct {
	Type                     string          `json:"type"`
	Identifier               *userIdentifier `json:"identifier"`
	User                     string          `json:"user"` // legacy form
	Password                 string          `json:"password"`
	DeviceID                 string          `json:"device_id"`
	InitialDeviceDisplayName string          `json:"initial_device_display_name"`
	// RefreshToken: the client supports refresh tokens.
	RefreshToken bool `json:"refresh_token"`
}

// loginUser returns the user a login or password stage names.
func (req loginRequest) loginUser() (string, error) {
	if req.Identifier != nil {
		if req.Identifier.Type != "m.id.user" {
			return "", httpapi.NewError(http.StatusBadRequest, "M_UNKNOWN", "only identifier type m.id.user is supported")
		}
		if req.Identifier.User == "" {
			return "", httpapi.ErrMissingParam("identifier.user is required")
		}
		return req.Identifier.User, nil
	}
	if req.User != "" {
		return req.User, nil
	}
	return "", httpapi.ErrMissingParam("identifier is required")
}

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	as := a.appServiceOf(r)
	if as == nil || as.IsRateLimited() {
		if err := httpapi.RateLimit(r, a.loginLimit); err != nil {
			return err
		}
	}
	var req loginRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Type == loginAppService {
		return a.loginForAppService(w, r, as, req)
	}
	if req.Type != accounts.StagePassword {
		return httpapi.NewError(http.StatusBadRequest, "M_UNKNOWN", "login type %q is not supported; use m.login.password", req.Type)
	}
	user, err := req.loginUser()
	if err != nil {
		return err
	}
	creds, err := a.Accounts.Login(r.Context(), user, req.Password, req.DeviceID, req.InitialDeviceDisplayName, req.RefreshToken)
	switch {
	case errors.Is(err, accounts.ErrBadCredentials), errors.Is(err, accounts.ErrDeactivated):
		// One answer for every failure, so logins cannot probe which
		// accounts exist, are guests (G-40) or are deactivated.
		return httpapi.ErrForbidden("invalid username or password")
	case err != nil:
		return err
	}
	a.Log.InfoContext(r.Context(), "login", "user_id", creds.UserID, "device_id", creds.DeviceID, "ip", httpapi.ClientIP(r))
	httpapi.WriteJSON(w, http.StatusOK, httpapi.NewRegisterResponse(creds, a.Config.ServerName))
	return nil
}

// requirePassword runs password UIA for the caller. It returns true when
// authentication is complete; otherwise it has written the 401 challenge.
//
// An application service acting for one of its users passes: its users
// have no password to give, and its token already lets it act as them
// (deactivation, device deletion under MSC4190, as in Synapse).
func (a *API) requirePassword(w http.ResponseWriter, r *http.Request, purpose string, auth json.RawMessage) (bool, error) {
	sess := httpapi.Principal(r)
	if sess.AppServiceID != "" {
		return true, nil
	}
	_, done, err := a.runUIA(w, purpose+":"+sess.UserID, [][]string{{accounts.StagePassword}}, auth,
		func(stage string, raw json.RawMessage, _ *accounts.UIASession) error {
			var body loginRequest
			if err := json.Unmarshal(raw, &body); err != nil {
				return &accounts.StageError{Errcode: "M_BAD_JSON", Message: "auth is malformed"}
			}
			user, err := body.loginUser()
			if err != nil {
				var me *httpapi.Error
				errors.As(err, &me)
				return &accounts.StageError{Errcode: me.Code, Message: me.Message}
			}
			userID, local := a.Accounts.ResolveUser(user)
			if !local || userID != sess.UserID {
				// Not a failed stage but a refusal, as in Synapse: 403
				// rather than another 401 challenge. The other user's
				// password is not checked, so this cannot probe it.
				return httpapi.ErrForbidden("you can only authenticate as yourself")
			}
			if _, err := a.Accounts.CheckPassword(r.Context(), userID, body.Password); err != nil {
				if errors.Is(err, accounts.ErrBadCredentials) || errors.Is(err, accounts.ErrDeactivated) {
					return &accounts.StageError{Errcode: "M_FORBIDDEN", Message: "invalid password"}
				}
				return err
			}
			return nil
		}, nil)
	return done, err
}
