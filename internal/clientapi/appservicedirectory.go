package clientapi

import (
	"context"
	"net/http"
	"strings"

	"foyer/internal/httpapi"
	"foyer/internal/rooms"
)

// AppServiceDirectory keeps the rooms application services publish in
// their networks' directories.
type AppServiceDirectory interface {
	SetListed(ctx context.Context, appserviceID, networkID, roomID string, listed bool) error
	// Rooms lists a network's rooms; an empty networkID lists every
	// network's.
	Rooms(ctx context.Context, appserviceID, networkID string) ([]string, error)
}

// putAppServiceDirectory is PUT /directory/list/appservice/{networkId}/{roomId}:
// an application service publishes a room in (or removes it from) the
// directory of one of its networks.
func (a *API) putAppServiceDirectory(w http.ResponseWriter, r *http.Request) error {
	as := a.appServiceOf(r)
	if as == nil {
		return httpapi.ErrForbidden("only an application service may publish rooms in its networks' directories")
	}
	var req struct {
		Visibility string `json:"visibility"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Visibility != "public" && req.Visibility != "private" {
		return httpapi.ErrInvalidParam("visibility must be public or private")
	}
	roomID := r.PathValue("roomId")
	if _, err := a.Rooms.DirectoryVisibility(r.Context(), roomID); err != nil {
		return err // an unknown room is 404
	}
	if err := a.AppServiceDirectory.SetListed(r.Context(), as.ID, r.PathValue("networkId"), roomID, req.Visibility == "public"); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

// deleteAppServiceDirectory is DELETE /directory/list/appservice/{networkId}/{roomId}:
// the room leaves the network's directory.
func (a *API) deleteAppServiceDirectory(w http.ResponseWriter, r *http.Request) error {
	as := a.appServiceOf(r)
	if as == nil {
		return httpapi.ErrForbidden("only an application service may remove rooms from its networks' directories")
	}
	if err := a.AppServiceDirectory.SetListed(r.Context(), as.ID, r.PathValue("networkId"), r.PathValue("roomId"), false); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

// networkRooms points a directory query at a third-party network
// (third_party_instance_id, "{appservice id}|{network id}") or adds every
// network's rooms (include_all_networks).
func (a *API) networkRooms(r *http.Request, q *rooms.PublicRoomsQuery, instanceID string, allNetworks bool) error {
	switch {
	case allNetworks:
		ids, err := a.AppServiceDirectory.Rooms(r.Context(), "", "")
		if err != nil {
			return err
		}
		q.Also = ids
	case instanceID != "":
		asID, network, ok := strings.Cut(instanceID, "|")
		q.Only = []string{}
		if !ok || a.AppServices.ByID(asID) == nil {
			return nil // an unknown network has no rooms
		}
		ids, err := a.AppServiceDirectory.Rooms(r.Context(), asID, network)
		if err != nil {
			return err
		}
		q.Only = append(q.Only, ids...)
	}
	return nil
}
