package httpapi

import (
	"net/http"

	"foyer/internal/rooms"
)

// userDirectoryRoutes is the user directory: for users only, guests are
// not on the guest list for it.
func (a *API) userDirectoryRoutes() []route {
	return []route{
		{Method: "POST", Path: clientV3 + "/user_directory/search", Access: UserOnly, Handle: a.searchUserDirectory},
	}
}

func (a *API) searchUserDirectory(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		SearchTerm *string `json:"search_term"`
		Limit      *int    `json:"limit"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.SearchTerm == nil {
		return errMissingParam("search_term is required")
	}
	limit := rooms.DefaultDirectoryLimit
	if req.Limit != nil {
		if *req.Limit < 0 {
			return errInvalidParam("limit must not be negative")
		}
		limit = *req.Limit
	}
	results, limited, err := a.Rooms.SearchUserDirectory(r.Context(), principal(r).UserID, *req.SearchTerm, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "limited": limited})
	return nil
}
