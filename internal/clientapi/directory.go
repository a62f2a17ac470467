package clientapi

import (
	"errors"
	"net/http"

	"foyer/internal/federationclient"
	"foyer/internal/httpapi"
	"foyer/internal/refusal"
	"foyer/internal/rooms"
)

// directoryRoutes are room aliases, the published room directory and
// room summaries: how people find rooms, guests and visitors included.
func (a *API) directoryRoutes() []httpapi.Route {
	const alias = httpapi.ClientV3 + "/directory/room/{roomAlias}"
	const list = httpapi.ClientV3 + "/directory/list/room/{roomId}"
	return []httpapi.Route{
		{Method: "PUT", Path: alias, Access: httpapi.UserOnly, Handle: a.putRoomAlias},
		{Method: "GET", Path: alias, Access: httpapi.Open, Handle: a.getRoomAlias},
		{Method: "DELETE", Path: alias, Access: httpapi.UserOnly, Handle: a.deleteRoomAlias},
		{Method: "GET", Path: httpapi.ClientV3 + "/rooms/{roomId}/aliases", Access: httpapi.UserOnly, Handle: a.getLocalAliases},
		{Method: "GET", Path: list, Access: httpapi.Open, Handle: a.getDirectoryVisibility},
		{Method: "PUT", Path: list, Access: httpapi.UserOnly, Handle: a.putDirectoryVisibility},
		{Method: "GET", Path: httpapi.ClientV3 + "/publicRooms", Access: httpapi.Open, Handle: a.getPublicRooms},
		{Method: "POST", Path: httpapi.ClientV3 + "/publicRooms", Access: httpapi.UserOnly, Handle: a.postPublicRooms},
		{Method: "GET", Path: httpapi.ClientV1 + "/room_summary/{roomIdOrAlias}", Access: httpapi.OptionalAuth, Handle: a.getRoomSummary},
	}
}

func (a *API) putRoomAlias(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RoomID string `json:"room_id"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.RoomID == "" {
		return httpapi.ErrMissingParam("room_id is required")
	}
	alias := r.PathValue("roomAlias")
	if err := a.checkAliasNotExclusive(r, alias); err != nil {
		return err
	}
	create := a.Rooms.CreateAlias
	if as := a.appServiceOf(r); as != nil && as.OwnsAlias(alias) {
		create = a.Rooms.CreateServiceAlias
	}
	if err := create(r.Context(), httpapi.Principal(r).UserID, alias, req.RoomID); err != nil {
		var re *refusal.Error
		if errors.As(err, &re) && re.Kind == refusal.RoomInUse {
			// The spec's answer for a taken alias.
			return httpapi.NewError(http.StatusConflict, "M_UNKNOWN", "the room alias %s already exists", alias)
		}
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) getRoomAlias(w http.ResponseWriter, r *http.Request) error {
	roomID, servers, err := a.Rooms.LookupAlias(r.Context(), r.PathValue("roomAlias"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"room_id": roomID, "servers": servers})
	return nil
}

func (a *API) deleteRoomAlias(w http.ResponseWriter, r *http.Request) error {
	if err := a.Rooms.DeleteAlias(r.Context(), httpapi.Principal(r).UserID, r.PathValue("roomAlias")); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) getLocalAliases(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	aliases, err := a.Rooms.LocalAliases(r.Context(), httpapi.Principal(r).UserID, roomID)
	if err != nil {
		return err
	}
	if aliases == nil {
		aliases = []string{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"aliases": aliases})
	return nil
}

func (a *API) getDirectoryVisibility(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	vis, err := a.Rooms.DirectoryVisibility(r.Context(), roomID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"visibility": vis})
	return nil
}

func (a *API) putDirectoryVisibility(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	var req struct {
		Visibility *string `json:"visibility"`
	}
	if err := httpapi.ReadOptionalJSON(r, &req); err != nil {
		return err
	}
	public := true // the spec's default
	if req.Visibility != nil {
		switch *req.Visibility {
		case "public":
		case "private":
			public = false
		default:
			return httpapi.ErrInvalidParam("visibility must be public or private")
		}
	}
	if err := a.Rooms.SetDirectoryVisibility(r.Context(), httpapi.Principal(r).UserID, roomID, public); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) getPublicRooms(w http.ResponseWriter, r *http.Request) error {
	limit, err := httpapi.ParseLimit(r, 0)
	if err != nil {
		return err
	}
	if server := a.remoteDirectoryServer(r); server != "" {
		return a.remotePublicRooms(w, r, server, federationclient.PublicRoomsFilter{Limit: limit, Since: r.URL.Query().Get("since")})
	}
	q := rooms.PublicRoomsQuery{Limit: limit, Since: r.URL.Query().Get("since")}
	if err := a.networkRooms(r, &q, r.URL.Query().Get("third_party_instance_id"), r.URL.Query().Get("include_all_networks") == "true"); err != nil {
		return err
	}
	return a.writePublicRooms(w, r, q)
}

func (a *API) postPublicRooms(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Limit                *int                               `json:"limit"`
		Since                string                             `json:"since"`
		Filter               federationclient.PublicRoomsSearch `json:"filter"`
		IncludeAllNetworks   bool                               `json:"include_all_networks"`
		ThirdPartyInstanceID string                             `json:"third_party_instance_id"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	q := rooms.PublicRoomsQuery{Since: req.Since, SearchTerm: req.Filter.GenericSearchTerm, RoomTypes: req.Filter.RoomTypes}
	if req.Limit != nil {
		if *req.Limit < 0 {
			return httpapi.ErrInvalidParam("limit must be a non-negative integer")
		}
		q.Limit = *req.Limit
	}
	if server := a.remoteDirectoryServer(r); server != "" {
		f := federationclient.PublicRoomsFilter{Limit: q.Limit, Since: req.Since,
			IncludeAllNetworks: req.IncludeAllNetworks, ThirdPartyInstanceID: req.ThirdPartyInstanceID}
		f.Filter = &req.Filter
		return a.remotePublicRooms(w, r, server, f)
	}
	if err := a.networkRooms(r, &q, req.ThirdPartyInstanceID, req.IncludeAllNetworks); err != nil {
		return err
	}
	return a.writePublicRooms(w, r, q)
}

func (a *API) writePublicRooms(w http.ResponseWriter, r *http.Request, q rooms.PublicRoomsQuery) error {
	page, err := a.Rooms.PublicRooms(r.Context(), q)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
	return nil
}

// getRoomSummary works with or without a token (OptionalAuth, G-24): the
// room service decides who may see which room, and leaves membership out
// for callers without a token.
func (a *API) getRoomSummary(w http.ResponseWriter, r *http.Request) error {
	roomID, err := a.resolveRoom(r, r.PathValue("roomIdOrAlias"))
	if err != nil {
		return err
	}
	userID := ""
	if p := httpapi.Principal(r); p != nil {
		userID = p.UserID
	}
	sum, err := a.Rooms.Summary(r.Context(), userID, roomID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, sum)
	return nil
}
