package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"foyer/internal/federationclient"
	"foyer/internal/httpapi"
)

// remoteRequestTimeout bounds a client request that waits on another
// server (a directory, a hierarchy): the client gets an answer or 504.
const remoteRequestTimeout = 15 * time.Second

// remoteDirectoryServer is /publicRooms' server parameter when it names
// another server; "" for none or our own name.
func (a *API) remoteDirectoryServer(r *http.Request) string {
	if s := r.URL.Query().Get("server"); s != "" && s != a.Config.ServerName {
		return s
	}
	return ""
}

// remotePublicRooms passes a page of server's published room directory
// on to the client. The other server's own errors (a bad since token)
// reach the client; failing to reach it is a 502 or 504.
func (a *API) remotePublicRooms(w http.ResponseWriter, r *http.Request, server string, f federationclient.PublicRoomsFilter) error {
	if a.Federation == nil || !a.Config.Federation.Enabled {
		return httpapi.ErrNotFound("cannot list the room directory of %s: federation is disabled", server)
	}
	ctx, cancel := context.WithTimeout(r.Context(), remoteRequestTimeout)
	defer cancel()
	page, err := a.Federation.PublicRooms(ctx, server, f)
	if err != nil {
		return remoteFailure(err, server, "the room directory", true)
	}
	var chunk []json.RawMessage
	if json.Unmarshal(page["chunk"], &chunk) != nil || chunk == nil {
		return httpapi.ErrUnknown(http.StatusBadGateway, "%s's room directory has no chunk", server)
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
	return nil
}
