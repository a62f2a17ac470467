package federationapi

import (
	"net/http"
	"strings"

	"foyer/internal/httpapi"
)

// Bounds on other servers' key requests: as many users as a client may
// query, and as many device IDs in all.
const (
	maxKeyQueryUsers   = 10000
	maxKeyQueryDevices = 10000
)

// localUser refuses a user ID that is not of this server: other servers
// ask each server only of its own users.
func (a *API) localUser(userID string) error {
	if !strings.HasPrefix(userID, "@") || !strings.HasSuffix(userID, ":"+a.Config.ServerName) {
		return httpapi.ErrInvalidParam("%s is not a user of this server", userID)
	}
	return nil
}

// userDevices is GET /_matrix/federation/v1/user/devices/{userId}: a
// local user's devices with their keys and display names, master and
// self-signing keys, and the stream_id that the next
// m.device_list_update about them will name in prev_id.
func (a *API) userDevices(w http.ResponseWriter, r *http.Request) error {
	userID := r.PathValue("userId")
	if err := a.localUser(userID); err != nil {
		return err
	}
	out, err := a.E2EE.LocalDeviceList(r.Context(), userID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// userKeysQuery is POST /_matrix/federation/v1/user/keys/query: local
// users' device keys and master and self-signing keys.
func (a *API) userKeysQuery(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		DeviceKeys map[string][]string `json:"device_keys"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.DeviceKeys == nil {
		return httpapi.ErrMissingParam("device_keys is required")
	}
	if len(req.DeviceKeys) > maxKeyQueryUsers {
		return httpapi.ErrInvalidParam("too many users in one query (at most %d)", maxKeyQueryUsers)
	}
	devices := 0
	for userID, ids := range req.DeviceKeys {
		if err := a.localUser(userID); err != nil {
			return err
		}
		if devices += len(ids); devices > maxKeyQueryDevices {
			return httpapi.ErrInvalidParam("too many devices in one query (at most %d)", maxKeyQueryDevices)
		}
	}
	res, err := a.E2EE.FederationQuery(r.Context(), req.DeviceKeys)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"device_keys": res.DeviceKeys, "master_keys": res.MasterKeys, "self_signing_keys": res.SelfSigningKeys})
	return nil
}

// userKeysClaim is POST /_matrix/federation/v1/user/keys/claim: one
// one-time key (or the fallback key) per local device asked.
func (a *API) userKeysClaim(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.OneTimeKeys == nil {
		return httpapi.ErrMissingParam("one_time_keys is required")
	}
	for userID := range req.OneTimeKeys {
		if err := a.localUser(userID); err != nil {
			return err
		}
	}
	keys, err := a.E2EE.FederationClaim(r.Context(), req.OneTimeKeys)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"one_time_keys": keys})
	return nil
}
