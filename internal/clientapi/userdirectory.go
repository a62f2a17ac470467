package clientapi

import (
	"net/http"

	"foyer/internal/httpapi"
	"foyer/internal/rooms"
)

// userDirectoryRoutes is the user directory: for users only, guests are
// not on the guest list for it.
func (a *API) userDirectoryRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: "POST", Path: httpapi.ClientV3 + "/user_directory/search", Access: httpapi.UserOnly, Handle: a.searchUserDirectory},
	}
}

func (a *API) searchUserDirectory(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		SearchTerm *string `json:"search_term"`
		Limit      *int    `json:"limit"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.SearchTerm == nil {
		return httpapi.ErrMissingParam("search_term is required")
	}
	limit := rooms.DefaultDirectoryLimit
	if req.Limit != nil {
		if *req.Limit < 0 {
			return httpapi.ErrInvalidParam("limit must not be negative")
		}
		limit = *req.Limit
	}
	results, limited, err := a.Rooms.SearchUserDirectory(r.Context(), httpapi.Principal(r).UserID, *req.SearchTerm, limit)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"results": results, "limited": limited})
	return nil
}
