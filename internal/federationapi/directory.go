package federationapi

import (
	"net/http"
	"strings"

	"foyer/internal/httpapi"
	"foyer/internal/rooms/matrixevents"
)

// queryDirectory is GET /_matrix/federation/v1/query/directory: the room
// one of this server's aliases names, and the servers in it (this one
// first) that the asking server can join it through. An alias of another
// server, or one that does not exist, is 404 M_NOT_FOUND.
func (a *API) queryDirectory(w http.ResponseWriter, r *http.Request) error {
	alias := r.URL.Query().Get("room_alias")
	if alias == "" {
		return httpapi.ErrMissingParam("room_alias is required")
	}
	if !matrixevents.ValidRoomAlias(alias) {
		return httpapi.ErrInvalidParam("%q is not a room alias", alias)
	}
	if server := alias[strings.IndexByte(alias, ':')+1:]; !strings.EqualFold(server, a.Keys.ServerName()) {
		return httpapi.ErrNotFound("the room alias %s is not of this server", alias)
	}
	roomID, servers, err := a.Rooms.LocalAlias(r.Context(), alias)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"room_id": roomID, "servers": servers})
	return nil
}
