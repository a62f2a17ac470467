package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"foyer/internal/accounts"
	"foyer/internal/httpapi"
)

type deviceJSON struct {
	DeviceID    string  `json:"device_id"`
	DisplayName *string `json:"display_name,omitempty"`
	LastSeenIP  *string `json:"last_seen_ip,omitempty"`
	LastSeenTS  *int64  `json:"last_seen_ts,omitempty"`
}

func toDeviceJSON(d accounts.Device) deviceJSON {
	out := deviceJSON{DeviceID: d.DeviceID}
	if d.DisplayName != "" {
		out.DisplayName = &d.DisplayName
	}
	if d.LastSeenIP != "" {
		out.LastSeenIP = &d.LastSeenIP
	}
	if d.LastSeenTS != 0 {
		out.LastSeenTS = &d.LastSeenTS
	}
	return out
}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request) error {
	devs, err := a.Accounts.ListDevices(r.Context(), httpapi.Principal(r).UserID)
	if err != nil {
		return err
	}
	out := make([]deviceJSON, 0, len(devs))
	for _, d := range devs {
		out = append(out, toDeviceJSON(d))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"devices": out})
	return nil
}

func (a *API) getDevice(w http.ResponseWriter, r *http.Request) error {
	d, err := a.Accounts.GetDevice(r.Context(), httpapi.Principal(r).UserID, r.PathValue("deviceId"))
	if errors.Is(err, accounts.ErrNotFound) {
		return httpapi.ErrNotFound("no such device")
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, toDeviceJSON(d))
	return nil
}

func (a *API) renameDevice(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		DisplayName *string `json:"display_name"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	p := httpapi.Principal(r)
	deviceID := r.PathValue("deviceId")
	if as := a.appServiceOf(r); as != nil && as.ManagesDevices {
		name := ""
		if req.DisplayName != nil {
			name = *req.DisplayName
		}
		created, err := a.Accounts.CreateDeviceWithoutLogin(r.Context(), p.UserID, deviceID, name)
		if err != nil {
			return err
		}
		if created {
			// MSC4190: an application service makes its users' devices.
			httpapi.WriteJSON(w, http.StatusCreated, struct{}{})
			return nil
		}
	}
	if req.DisplayName == nil {
		// Nothing to change, but the device must still exist.
		if _, err := a.Accounts.GetDevice(r.Context(), p.UserID, deviceID); err != nil {
			if errors.Is(err, accounts.ErrNotFound) {
				return httpapi.ErrNotFound("no such device")
			}
			return err
		}
	} else {
		if len(*req.DisplayName) > 512 {
			return httpapi.ErrInvalidParam("display_name is longer than 512 bytes")
		}
		err := a.Accounts.RenameDevice(r.Context(), p.UserID, deviceID, *req.DisplayName)
		if errors.Is(err, accounts.ErrNotFound) {
			return httpapi.ErrNotFound("no such device")
		}
		if err != nil {
			return err
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) deleteDevice(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Auth json.RawMessage `json:"auth"`
	}
	if err := httpapi.ReadOptionalJSON(r, &req); err != nil {
		return err
	}
	p := httpapi.Principal(r)
	deviceID := r.PathValue("deviceId")
	if _, err := a.Accounts.GetDevice(r.Context(), p.UserID, deviceID); err != nil {
		if errors.Is(err, accounts.ErrNotFound) {
			return httpapi.ErrNotFound("no such device")
		}
		return err
	}
	done, err := a.requirePassword(w, r, "delete_device:"+deviceID, req.Auth)
	if err != nil || !done {
		return err
	}
	if err := a.Accounts.DeleteDevices(r.Context(), p.UserID, []string{deviceID}); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) deleteDevices(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Devices *[]string       `json:"devices"`
		Auth    json.RawMessage `json:"auth"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Devices == nil {
		return httpapi.ErrMissingParam("devices is required")
	}
	// The session is bound to the devices named when it began: it cannot
	// be reused to delete others.
	ids := slices.Clone(*req.Devices)
	slices.Sort(ids)
	done, err := a.requirePassword(w, r, "delete_devices:"+strings.Join(ids, ","), req.Auth)
	if err != nil || !done {
		return err
	}
	if err := a.Accounts.DeleteDevices(r.Context(), httpapi.Principal(r).UserID, *req.Devices); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}
