package clientapi

import (
	"encoding/json"
	"net/http"

	"foyer/internal/clientsync"
	"foyer/internal/e2ee"
	"foyer/internal/httpapi"
)

// e2eeRoutes are keys, cross-signing, to-device messages and key backup
// (G-45..G-48).
func (a *API) e2eeRoutes() []httpapi.Route {
	const keys = httpapi.ClientV3 + "/keys"
	const rk = httpapi.ClientV3 + "/room_keys"
	return []httpapi.Route{
		{Method: "POST", Path: keys + "/upload", Access: httpapi.GuestOK, Handle: a.uploadKeys},
		{Method: "POST", Path: keys + "/query", Access: httpapi.GuestOK, Handle: a.queryKeys},
		{Method: "POST", Path: keys + "/claim", Access: httpapi.GuestOK, Handle: a.claimKeys},
		{Method: "GET", Path: keys + "/changes", Access: httpapi.GuestOK, Handle: a.keyChanges},
		{Method: "POST", Path: keys + "/device_signing/upload", Access: httpapi.UserOnly, Handle: a.uploadSigningKeys},
		{Method: "POST", Path: keys + "/signatures/upload", Access: httpapi.UserOnly, Handle: a.uploadSignatures},
		// Cross-signing's paths before spec v1.1 (MSC1756), which older
		// clients and SyTest still call.
		{Method: "POST", Path: "/_matrix/client/unstable/keys/device_signing/upload", Access: httpapi.UserOnly, Handle: a.uploadSigningKeys},
		{Method: "POST", Path: "/_matrix/client/unstable/keys/signatures/upload", Access: httpapi.UserOnly, Handle: a.uploadSignatures},

		{Method: "PUT", Path: httpapi.ClientV3 + "/sendToDevice/{eventType}/{txnId}", Access: httpapi.GuestOK, Handle: a.sendToDevice},

		{Method: "POST", Path: rk + "/version", Access: httpapi.UserOnly, Handle: a.createBackup},
		{Method: "GET", Path: rk + "/version", Access: httpapi.UserOnly, Handle: a.getBackup},
		{Method: "GET", Path: rk + "/version/{version}", Access: httpapi.UserOnly, Handle: a.getBackup},
		{Method: "PUT", Path: rk + "/version/{version}", Access: httpapi.UserOnly, Handle: a.updateBackup},
		{Method: "DELETE", Path: rk + "/version/{version}", Access: httpapi.UserOnly, Handle: a.deleteBackup},
		{Method: "PUT", Path: rk + "/keys", Access: httpapi.UserOnly, Handle: a.putRoomKeys},
		{Method: "GET", Path: rk + "/keys", Access: httpapi.UserOnly, Handle: a.getRoomKeys},
		{Method: "DELETE", Path: rk + "/keys", Access: httpapi.UserOnly, Handle: a.deleteRoomKeys},
		{Method: "PUT", Path: rk + "/keys/{roomId}", Access: httpapi.UserOnly, Handle: a.putRoomKeys},
		{Method: "GET", Path: rk + "/keys/{roomId}", Access: httpapi.UserOnly, Handle: a.getRoomKeys},
		{Method: "DELETE", Path: rk + "/keys/{roomId}", Access: httpapi.UserOnly, Handle: a.deleteRoomKeys},
		{Method: "PUT", Path: rk + "/keys/{roomId}/{sessionId}", Access: httpapi.UserOnly, Handle: a.putRoomKeys},
		{Method: "GET", Path: rk + "/keys/{roomId}/{sessionId}", Access: httpapi.UserOnly, Handle: a.getRoomKeys},
		{Method: "DELETE", Path: rk + "/keys/{roomId}/{sessionId}", Access: httpapi.UserOnly, Handle: a.deleteRoomKeys},
	}
}

// uploadKeys is POST /keys/upload.
func (a *API) uploadKeys(w http.ResponseWriter, r *http.Request) error {
	if err := a.throttleGuestWrite(r); err != nil {
		return err
	}
	var req e2ee.UploadRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	p := httpapi.Principal(r)
	if p.DeviceID == "" {
		// An application service acting as a user without naming one of
		// its devices (device_id, MSC3202) has no device to keep keys for.
		return httpapi.ErrInvalidParam("keys belong to a device: name one with the device_id query parameter")
	}
	counts, err := a.E2EE.Upload(r.Context(), p.UserID, p.DeviceID, req)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"one_time_key_counts": counts})
	return nil
}

// queryKeys is POST /keys/query.
func (a *API) queryKeys(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		DeviceKeys map[string][]string `json:"device_keys"`
		Timeout    *int64              `json:"timeout"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if len(req.DeviceKeys) > 10000 {
		return httpapi.ErrInvalidParam("too many users in one query")
	}
	res, err := a.E2EE.Query(r.Context(), httpapi.Principal(r).UserID, req.DeviceKeys, e2ee.RemoteTimeout(req.Timeout))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
	return nil
}

// claimKeys is POST /keys/claim.
func (a *API) claimKeys(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
		Timeout     *int64                       `json:"timeout"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	keys, failures, err := a.E2EE.Claim(r.Context(), req.OneTimeKeys, e2ee.RemoteTimeout(req.Timeout))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"one_time_keys": keys, "failures": failures})
	return nil
}

// keyChanges is GET /keys/changes?from=&to= with sync tokens.
func (a *API) keyChanges(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("from") == "" || q.Get("to") == "" {
		return httpapi.ErrMissingParam("from and to are required")
	}
	from, ok1 := clientsync.ParseToken(q.Get("from"))
	to, ok2 := clientsync.ParseToken(q.Get("to"))
	if !ok1 || !ok2 {
		return httpapi.ErrInvalidParam("from and to must be sync tokens this server issued")
	}
	changed, left, err := a.E2EE.Changes(r.Context(), httpapi.Principal(r).UserID, from.Pos, to.Pos)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"changed": changed, "left": left})
	return nil
}

// uploadSigningKeys is POST /keys/device_signing/upload. It needs
// password authentication, except for the first upload (no master key
// yet) and for re-uploading the stored keys, as Synapse does.
func (a *API) uploadSigningKeys(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		e2ee.SigningKeysUpload
		Auth json.RawMessage `json:"auth"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	userID := httpapi.Principal(r).UserID
	needsAuth, err := a.E2EE.SigningUploadNeedsAuth(r.Context(), userID, req.SigningKeysUpload)
	if err != nil {
		return err
	}
	if needsAuth {
		done, err := a.requirePassword(w, r, "device_signing_upload", req.Auth)
		if err != nil || !done {
			return err
		}
	}
	if err := a.E2EE.UploadSigningKeys(r.Context(), userID, req.SigningKeysUpload); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

// uploadSignatures is POST /keys/signatures/upload.
func (a *API) uploadSignatures(w http.ResponseWriter, r *http.Request) error {
	var req map[string]map[string]json.RawMessage
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	failures, err := a.E2EE.UploadSignatures(r.Context(), httpapi.Principal(r).UserID, req)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"failures": failures})
	return nil
}
