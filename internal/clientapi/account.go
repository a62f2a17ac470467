package clientapi

import (
	"encoding/json"
	"net/http"

	"foyer/internal/httpapi"
)

func (a *API) whoami(w http.ResponseWriter, r *http.Request) error {
	p := httpapi.Principal(r)
	res := map[string]any{"user_id": p.UserID, "is_guest": p.IsGuest()}
	if p.DeviceID != "" {
		// An application service's user may act without a device.
		res["device_id"] = p.DeviceID
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	if err := a.Accounts.Logout(r.Context(), *httpapi.Principal(r)); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) logoutAll(w http.ResponseWriter, r *http.Request) error {
	if err := a.Accounts.LogoutAll(r.Context(), httpapi.Principal(r).UserID); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		NewPassword   *string         `json:"new_password"`
		LogoutDevices *bool           `json:"logout_devices"`
		Auth          json.RawMessage `json:"auth"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.NewPassword == nil || *req.NewPassword == "" {
		return httpapi.ErrMissingParam("new_password is required")
	}
	if err := a.Accounts.CheckPasswordPolicy(*req.NewPassword); err != nil {
		return httpapi.UsernameError(err)
	}
	done, err := a.requirePasswordOrOwnToken(w, r, "password", req.Auth)
	if err != nil || !done {
		return err
	}
	logout := req.LogoutDevices == nil || *req.LogoutDevices
	if err := a.Accounts.ChangePassword(r.Context(), *httpapi.Principal(r), *req.NewPassword, logout); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) deactivate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Auth  json.RawMessage `json:"auth"`
		Erase bool            `json:"erase"`
	}
	if err := httpapi.ReadOptionalJSON(r, &req); err != nil {
		return err
	}
	done, err := a.requirePassword(w, r, "deactivate", req.Auth)
	if err != nil || !done {
		return err
	}
	p := httpapi.Principal(r)
	deactivate := a.Accounts.Deactivate
	if req.Erase {
		deactivate = a.Accounts.DeactivateAndErase
	}
	if err := deactivate(r.Context(), p.UserID); err != nil {
		return err
	}
	a.Log.InfoContext(r.Context(), "account deactivated", "user_id", p.UserID, "erased", req.Erase)
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"id_server_unbind_result": "no-support"})
	return nil
}
