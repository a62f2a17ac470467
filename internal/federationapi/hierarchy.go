package federationapi

import (
	"net/http"

	"foyer/internal/httpapi"
	"foyer/internal/rooms/matrixevents"
)

// getHierarchy is GET /_matrix/federation/v1/hierarchy/{roomId}: a space
// and its children as far as the asking server could peek or join them.
func (a *API) getHierarchy(w http.ResponseWriter, r *http.Request) error {
	roomID := r.PathValue("roomId")
	if !matrixevents.ValidRoomID(roomID) {
		return httpapi.ErrInvalidParam("%q is not a room ID", roomID)
	}
	suggested, _, err := httpapi.BoolParam(r, "suggested_only")
	if err != nil {
		return err
	}
	space, err := a.Rooms.FederatedHierarchy(r.Context(), Origin(r.Context()), roomID, suggested)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, space)
	return nil
}
