package httpapi

import (
	"net/http"

	"foyer/internal/rooms"
)

// upgradeRoutes is the room upgrade module. Guests may not upgrade rooms:
// the endpoint is not on the guest list (G-13).
func (a *API) upgradeRoutes() []route {
	return []route{
		{Method: "POST", Path: clientV3 + "/rooms/{roomId}/upgrade", Access: UserOnly, Handle: a.upgradeRoom},
	}
}

// upgradeRoom is POST /rooms/{roomId}/upgrade: {new_version,
// additional_creators?} → {replacement_room}.
func (a *API) upgradeRoom(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	var req struct {
		NewVersion         string   `json:"new_version"`
		AdditionalCreators []string `json:"additional_creators"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.NewVersion == "" {
		return errMissingParam("new_version is required: the room version to upgrade to")
	}
	newRoomID, err := a.Rooms.UpgradeRoom(r.Context(), rooms.UpgradeRequest{
		RoomID: roomID, UserID: principal(r).UserID, NewVersion: req.NewVersion, AdditionalCreators: req.AdditionalCreators,
	})
	if err != nil {
		return err
	}
	a.carryToReplacement(r.Context(), principal(r).UserID, newRoomID)
	writeJSON(w, http.StatusOK, map[string]string{"replacement_room": newRoomID})
	return nil
}
