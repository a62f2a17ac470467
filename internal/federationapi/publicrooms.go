package federationapi

import (
	"net/http"

	"foyer/internal/httpapi"
	"foyer/internal/rooms"
)

// getPublicRooms is GET /_matrix/federation/v1/publicRooms: our published
// room directory, as the client API lists it.
func (a *API) getPublicRooms(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := httpapi.ParseLimit(r, 0)
	if err != nil {
		return err
	}
	all, _, err := httpapi.BoolParam(r, "include_all_networks")
	if err != nil {
		return err
	}
	return a.writePublicRooms(w, r, rooms.PublicRoomsQuery{Limit: limit, Since: q.Get("since")}, all, q.Get("third_party_instance_id"))
}

// postPublicRooms is POST /_matrix/federation/v1/publicRooms, with a
// filter.
func (a *API) postPublicRooms(w http.ResponseWriter, r *http.Request) error {
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
	return a.writePublicRooms(w, r, q, req.IncludeAllNetworks, req.ThirdPartyInstanceID)
}

func (a *API) writePublicRooms(w http.ResponseWriter, r *http.Request, q rooms.PublicRoomsQuery, allNetworks bool, thirdPartyInstance string) error {
	if thirdPartyInstance != "" && !allNetworks {
		// No application service bridges networks here: a third-party
		// network's directory is empty.
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"chunk": []any{}, "total_room_count_estimate": 0})
		return nil
	}
	page, err := a.Rooms.PublicRooms(r.Context(), q)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
	return nil
}
