package clientapi

import (
	"encoding/json"
	"net/http"

	"foyer/internal/e2ee"
	"foyer/internal/httpapi"
)

// Server-side key backup: /room_keys/version and /room_keys/keys. Not for
// guests (G-48); Element asks for the current version at start-up and
// takes 404 M_NOT_FOUND as "no backup".

type backupVersionBody struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	// Version is a string in the spec; some clients (and SyTest) send
	// the number, taken as its decimal form.
	Version json.RawMessage `json:"version"`
}

// version is the body's version as a string ("" when absent).
func (b backupVersionBody) version() (string, error) {
	if len(b.Version) == 0 || string(b.Version) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(b.Version, &s) == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(b.Version, &n); err != nil {
		return "", httpapi.ErrBadJSON("version must be a string")
	}
	return n.String(), nil
}

func (a *API) createBackup(w http.ResponseWriter, r *http.Request) error {
	var req backupVersionBody
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	v, err := a.E2EE.CreateBackup(r.Context(), httpapi.Principal(r).UserID, req.Algorithm, req.AuthData)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"version": v})
	return nil
}

// getBackup is GET /room_keys/version and /room_keys/version/{version}.
func (a *API) getBackup(w http.ResponseWriter, r *http.Request) error {
	info, err := a.E2EE.GetBackup(r.Context(), httpapi.Principal(r).UserID, r.PathValue("version"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, info)
	return nil
}

func (a *API) updateBackup(w http.ResponseWriter, r *http.Request) error {
	var req backupVersionBody
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	bodyVersion, err := req.version()
	if err != nil {
		return err
	}
	err = a.E2EE.UpdateBackup(r.Context(), httpapi.Principal(r).UserID, r.PathValue("version"), req.Algorithm, req.AuthData, bodyVersion)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) deleteBackup(w http.ResponseWriter, r *http.Request) error {
	if err := a.E2EE.DeleteBackup(r.Context(), httpapi.Principal(r).UserID, r.PathValue("version")); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

// putRoomKeys is PUT /room_keys/keys[/{roomId}[/{sessionId}]]; the body
// is the whole backup, one room's sessions, or one session's key.
func (a *API) putRoomKeys(w http.ResponseWriter, r *http.Request) error {
	roomID, sessionID := r.PathValue("roomId"), r.PathValue("sessionId")
	var rooms map[string]e2ee.RoomKeyBackup
	switch {
	case sessionID != "":
		var key e2ee.KeyBackupData
		if err := httpapi.ReadJSON(r, &key); err != nil {
			return err
		}
		rooms = map[string]e2ee.RoomKeyBackup{roomID: {Sessions: map[string]e2ee.KeyBackupData{sessionID: key}}}
	case roomID != "":
		var room e2ee.RoomKeyBackup
		if err := httpapi.ReadJSON(r, &room); err != nil {
			return err
		}
		if room.Sessions == nil {
			return httpapi.ErrMissingParam("sessions is required")
		}
		rooms = map[string]e2ee.RoomKeyBackup{roomID: room}
	default:
		var body struct {
			Rooms map[string]e2ee.RoomKeyBackup `json:"rooms"`
		}
		if err := httpapi.ReadJSON(r, &body); err != nil {
			return err
		}
		if body.Rooms == nil {
			return httpapi.ErrMissingParam("rooms is required")
		}
		rooms = body.Rooms
	}
	res, err := a.E2EE.PutRoomKeys(r.Context(), httpapi.Principal(r).UserID, r.URL.Query().Get("version"), rooms)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
	return nil
}

// getRoomKeys is GET /room_keys/keys[/{roomId}[/{sessionId}]].
func (a *API) getRoomKeys(w http.ResponseWriter, r *http.Request) error {
	roomID, sessionID := r.PathValue("roomId"), r.PathValue("sessionId")
	rooms, err := a.E2EE.RoomKeys(r.Context(), httpapi.Principal(r).UserID, r.URL.Query().Get("version"), roomID, sessionID)
	if err != nil {
		return err
	}
	switch {
	case sessionID != "":
		key, ok := rooms[roomID].Sessions[sessionID]
		if !ok {
			return httpapi.ErrNotFound("no key for this session in the backup")
		}
		httpapi.WriteJSON(w, http.StatusOK, key)
	case roomID != "":
		room, ok := rooms[roomID]
		if !ok {
			room = e2ee.RoomKeyBackup{Sessions: map[string]e2ee.KeyBackupData{}}
		}
		httpapi.WriteJSON(w, http.StatusOK, room)
	default:
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"rooms": rooms})
	}
	return nil
}

// deleteRoomKeys is DELETE /room_keys/keys[/{roomId}[/{sessionId}]].
func (a *API) deleteRoomKeys(w http.ResponseWriter, r *http.Request) error {
	res, err := a.E2EE.DeleteRoomKeys(r.Context(), httpapi.Principal(r).UserID, r.URL.Query().Get("version"), r.PathValue("roomId"), r.PathValue("sessionId"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
	return nil
}
