package clientapi

import (
	"net/http"

	"foyer/internal/httpapi"
	"foyer/internal/rooms"
)

// upgradeRoutes is the room upgrade module. Guests may not upgrade rooms:
// the endpoint is not on the guest list (G-13).
func (a *API) upgradeRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: "POST", Path: httpapi.ClientV3 + "/rooms/{roomId}/upgrade", Access: httpapi.UserOnly, Handle: a.upgradeRoom},
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
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.NewVersion == "" {
		return httpapi.ErrMissingParam("new_version is required: the room version to upgrade to")
	}
	newRoomID, err := a.Rooms.UpgradeRoom(r.Context(), rooms.UpgradeRequest{
		RoomID: roomID, UserID: httpapi.Principal(r).UserID, NewVersion: req.NewVersion, AdditionalCreators: req.AdditionalCreators,
	})
	if err != nil {
		return err
	}
	a.carryToReplacement(r.Context(), httpapi.Principal(r).UserID, newRoomID)
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"replacement_room": newRoomID})
	return nil
}
