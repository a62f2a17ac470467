package httpapi

import (
	"encoding/json"
	"net/http"
)

func (a *API) whoami(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"user_id":   p.UserID,
		"device_id": p.DeviceID,
		"is_guest":  p.IsGuest(),
	})
	return nil
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	if err := a.Accounts.Logout(r.Context(), *principal(r)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) logoutAll(w http.ResponseWriter, r *http.Request) error {
	if err := a.Accounts.LogoutAll(r.Context(), principal(r).UserID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		NewPassword   *string         `json:"new_password"`
		LogoutDevices *bool           `json:"logout_devices"`
		Auth          json.RawMessage `json:"auth"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.NewPassword == nil || *req.NewPassword == "" {
		return errMissingParam("new_password is required")
	}
	if err := a.Accounts.CheckPasswordPolicy(*req.NewPassword); err != nil {
		return usernameError(err)
	}
	done, err := a.requirePasswordOrOwnToken(w, r, "password", req.Auth)
	if err != nil || !done {
		return err
	}
	logout := req.LogoutDevices == nil || *req.LogoutDevices
	if err := a.Accounts.ChangePassword(r.Context(), *principal(r), *req.NewPassword, logout); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) deactivate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Auth json.RawMessage `json:"auth"`
	}
	if err := readOptionalJSON(r, &req); err != nil {
		return err
	}
	done, err := a.requirePassword(w, r, "deactivate", req.Auth)
	if err != nil || !done {
		return err
	}
	p := principal(r)
	if err := a.Accounts.Deactivate(r.Context(), p.UserID); err != nil {
		return err
	}
	a.Log.Info("account deactivated", "user_id", p.UserID)
	writeJSON(w, http.StatusOK, map[string]string{"id_server_unbind_result": "no-support"})
	return nil
}
