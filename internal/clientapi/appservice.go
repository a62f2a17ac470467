package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"foyer/internal/accounts"
	"foyer/internal/appservice"
	"foyer/internal/httpapi"
)

// loginAppService is the registration and login type of application
// services: the as_token is the proof, there is no UIA and no password.
const loginAppService = "m.login.application_service"

// appServiceOf is the application service whose as_token the request
// carries, or nil.
func (a *API) appServiceOf(r *http.Request) *appservice.Service {
	if p := httpapi.Principal(r); p != nil && p.AppServiceID != "" {
		return a.AppServices.ByID(p.AppServiceID)
	}
	return nil
}

// registerForAppService handles POST /register when either side of it is
// an application service's: the type m.login.application_service, or an
// as_token. It reports false for an ordinary registration.
func (a *API) registerForAppService(w http.ResponseWriter, r *http.Request, as *appservice.Service, body []byte) (bool, error) {
	var req struct {
		Type                     string `json:"type"`
		Username                 string `json:"username"`
		DeviceID                 string `json:"device_id"`
		InitialDeviceDisplayName string `json:"initial_device_display_name"`
		InhibitLogin             bool   `json:"inhibit_login"`
		RefreshToken             bool   `json:"refresh_token"`
		Auth                     struct {
			Type string `json:"type"`
		} `json:"auth"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return false, nil // the ordinary path answers the bad JSON
	}
	asType := req.Type == loginAppService || req.Auth.Type == loginAppService
	switch {
	case as == nil && !asType:
		return false, nil
	case as == nil:
		return true, httpapi.ErrMissingToken()
	case !asType:
		// An as_token with an ordinary registration: the service must
		// say what it means, as the spec has it.
		return true, httpapi.NewError(http.StatusBadRequest, "M_MISSING_PARAM", "an application service registers users with type m.login.application_service")
	}
	if req.Username == "" {
		return true, httpapi.ErrMissingParam("username is required to register a user of an application service")
	}
	lp, err := accounts.NormaliseAppServiceLocalpart(req.Username, a.Config.ServerName)
	if err != nil {
		return true, httpapi.UsernameError(err)
	}
	userID := accounts.UserID(lp, a.Config.ServerName)
	if !as.OwnsUser(userID) {
		return true, httpapi.NewError(http.StatusBadRequest, "M_EXCLUSIVE", "%s is not in the application service's user namespace", userID)
	}
	creds, err := a.Accounts.Register(r.Context(), accounts.RegisterRequest{
		Username:          lp,
		DeviceID:          req.DeviceID,
		DeviceDisplayName: req.InitialDeviceDisplayName,
		InhibitLogin:      req.InhibitLogin,
		RefreshToken:      req.RefreshToken,
		AppService:        true,
	})
	if err != nil {
		return true, httpapi.UsernameError(err)
	}
	a.Metrics.Registrations.WithLabelValues("appservice").Inc()
	a.Log.InfoContext(r.Context(), "application service registered a user", "user_id", creds.UserID, "appservice", as.ID)
	httpapi.WriteJSON(w, http.StatusOK, httpapi.NewRegisterResponse(creds, a.Config.ServerName))
	return true, nil
}

// loginForAppService is POST /login with m.login.application_service: a
// new device and token for a user of the service's namespace.
func (a *API) loginForAppService(w http.ResponseWriter, r *http.Request, as *appservice.Service, req loginRequest) error {
	if as == nil {
		return httpapi.ErrMissingToken()
	}
	user, err := req.loginUser()
	if err != nil {
		return err
	}
	userID, local := a.Accounts.ResolveUser(user)
	if !local || !as.OwnsUser(userID) {
		return httpapi.ErrForbidden("%s is not in the application service's user namespace", user)
	}
	u, err := a.Accounts.GetUser(r.Context(), userID)
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		return httpapi.ErrForbidden("the application service has not registered %s", userID)
	case err != nil:
		return err
	case u.Deactivated:
		return httpapi.ErrForbidden("%s is deactivated", userID)
	}
	creds, err := a.Accounts.NewLogin(r.Context(), userID, req.DeviceID, req.InitialDeviceDisplayName, req.RefreshToken)
	if err != nil {
		return err
	}
	a.Log.InfoContext(r.Context(), "application service login", "user_id", creds.UserID, "device_id", creds.DeviceID, "appservice", as.ID)
	httpapi.WriteJSON(w, http.StatusOK, httpapi.NewRegisterResponse(creds, a.Config.ServerName))
	return nil
}

// checkAliasNotExclusive refuses an alias an application service claims
// exclusively to everyone but that service (and its users).
func (a *API) checkAliasNotExclusive(r *http.Request, alias string) error {
	owner := a.AppServices.AliasExclusiveTo(alias)
	if owner == nil {
		return nil
	}
	if as := a.appServiceOf(r); as != nil && as.ID == owner.ID {
		return nil
	}
	if p := httpapi.Principal(r); p != nil && owner.OwnsUser(p.UserID) {
		return nil
	}
	return httpapi.NewError(http.StatusBadRequest, "M_EXCLUSIVE", "the alias %s is reserved by an application service", alias)
}
