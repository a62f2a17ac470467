package httpapi

import (
	"errors"
	"net/http"

	"foyer/internal/refusal"
	"foyer/internal/rooms"
)

// directoryRoutes are room aliases, the published room directory and
// room summaries: how people find rooms, guests and visitors included.
func (a *API) directoryRoutes() []route {
	const alias = clientV3 + "/directory/room/{roomAlias}"
	const list = clientV3 + "/directory/list/room/{roomId}"
	return []route{
		{Method: "PUT", Path: alias, Access: UserOnly, Handle: a.putRoomAlias},
		{Method: "GET", Path: alias, Access: Open, Handle: a.getRoomAlias},
		{Method: "DELETE", Path: alias, Access: UserOnly, Handle: a.deleteRoomAlias},
		{Method: "GET", Path: clientV3 + "/rooms/{roomId}/aliases", Access: UserOnly, Handle: a.getLocalAliases},
		{Method: "GET", Path: list, Access: Open, Handle: a.getDirectoryVisibility},
		{Method: "PUT", Path: list, Access: UserOnly, Handle: a.putDirectoryVisibility},
		{Method: "GET", Path: clientV3 + "/publicRooms", Access: Open, Handle: a.getPublicRooms},
		{Method: "POST", Path: clientV3 + "/publicRooms", Access: UserOnly, Handle: a.postPublicRooms},
		{Method: "GET", Path: clientV1 + "/room_summary/{roomIdOrAlias}", Access: OptionalAuth, Handle: a.getRoomSummary},
	}
}

func (a *API) putRoomAlias(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RoomID string `json:"room_id"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.RoomID == "" {
		return errMissingParam("room_id is required")
	}
	alias := r.PathValue("roomAlias")
	if err := a.Rooms.CreateAlias(r.Context(), principal(r).UserID, alias, req.RoomID); err != nil {
		var re *refusal.Error
		if errors.As(err, &re) && re.Kind == refusal.RoomInUse {
			// The spec's answer for a taken alias.
			return newError(http.StatusConflict, "M_UNKNOWN", "the room alias %s already exists", alias)
		}
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) getRoomAlias(w http.ResponseWriter, r *http.Request) error {
	roomID, err := a.Rooms.ResolveAlias(r.Context(), r.PathValue("roomAlias"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"room_id": roomID, "servers": []string{a.Config.ServerName}})
	return nil
}

func (a *API) deleteRoomAlias(w http.ResponseWriter, r *http.Request) error {
	if err := a.Rooms.DeleteAlias(r.Context(), principal(r).UserID, r.PathValue("roomAlias")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) getLocalAliases(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	aliases, err := a.Rooms.LocalAliases(r.Context(), principal(r).UserID, roomID)
	if err != nil {
		return err
	}
	if aliases == nil {
		aliases = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"aliases": aliases})
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
	writeJSON(w, http.StatusOK, map[string]string{"visibility": vis})
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
	if err := readOptionalJSON(r, &req); err != nil {
		return err
	}
	public := true // the spec's default
	if req.Visibility != nil {
		switch *req.Visibility {
		case "public":
		case "private":
			public = false
		default:
			return errInvalidParam("visibility must be public or private")
		}
	}
	if err := a.Rooms.SetDirectoryVisibility(r.Context(), principal(r).UserID, roomID, public); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// checkDirectoryServer accepts an absent server parameter or our own
// name: other servers' directories need federation, which Foyer does not
// speak yet.
func (a *API) checkDirectoryServer(r *http.Request) error {
	if s := r.URL.Query().Get("server"); s != "" && s != a.Config.ServerName {
		return errNotFound("cannot list the room directory of %s: this server does not federate yet", s)
	}
	return nil
}

func (a *API) getPublicRooms(w http.ResponseWriter, r *http.Request) error {
	if err := a.checkDirectoryServer(r); err != nil {
		return err
	}
	limit, err := parseLimit(r, 0)
	if err != nil {
		return err
	}
	return a.writePublicRooms(w, r, rooms.PublicRoomsQuery{Limit: limit, Since: r.URL.Query().Get("since")})
}

func (a *API) postPublicRooms(w http.ResponseWriter, r *http.Request) error {
	if err := a.checkDirectoryServer(r); err != nil {
		return err
	}
	var req struct {
		Limit  *int   `json:"limit"`
		Since  string `json:"since"`
		Filter struct {
			GenericSearchTerm string    `json:"generic_search_term"`
			RoomTypes         []*string `json:"room_types"`
		} `json:"filter"`
		IncludeAllNetworks   bool   `json:"include_all_networks"`
		ThirdPartyInstanceID string `json:"third_party_instance_id"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	q := rooms.PublicRoomsQuery{Since: req.Since, SearchTerm: req.Filter.GenericSearchTerm, RoomTypes: req.Filter.RoomTypes}
	if req.Limit != nil {
		if *req.Limit < 0 {
			return errInvalidParam("limit must be a non-negative integer")
		}
		q.Limit = *req.Limit
	}
	if req.ThirdPartyInstanceID != "" && !req.IncludeAllNetworks {
		// No application service bridges networks here: a third-party
		// network's directory is empty.
		writeJSON(w, http.StatusOK, map[string]any{"chunk": []any{}, "total_room_count_estimate": 0})
		return nil
	}
	return a.writePublicRooms(w, r, q)
}

func (a *API) writePublicRooms(w http.ResponseWriter, r *http.Request, q rooms.PublicRoomsQuery) error {
	page, err := a.Rooms.PublicRooms(r.Context(), q)
	if err != nil {
		return err
	}
	resp := map[string]any{"chunk": page.Chunk, "total_room_count_estimate": page.Total}
	if page.NextBatch != "" {
		resp["next_batch"] = page.NextBatch
	}
	if page.PrevBatch != "" {
		resp["prev_batch"] = page.PrevBatch
	}
	writeJSON(w, http.StatusOK, resp)
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
	if p := principal(r); p != nil {
		userID = p.UserID
	}
	sum, err := a.Rooms.Summary(r.Context(), userID, roomID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sum)
	return nil
}
