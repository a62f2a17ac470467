package clientapi

import (
	"encoding/json"
	"net/http"

	"foyer/internal/clientsync"
	"foyer/internal/httpapi"
)

// parseRoomFilter reads the inline RoomEventFilter of /messages and
// /context, held to the same rules as a body: no \u0000, and no list
// longer than clientsync.MaxFilterListLength (M_BAD_JSON).
func parseRoomFilter(r *http.Request) (clientsync.RoomEventFilter, error) {
	var f clientsync.RoomEventFilter
	raw := r.URL.Query().Get("filter")
	if raw == "" {
		return f, nil
	}
	if err := httpapi.CheckJSONText([]byte(raw)); err != nil {
		return f, err
	}
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return f, httpapi.ErrInvalidParam("filter is not a valid RoomEventFilter: %v", err)
	}
	if err := f.CheckListLengths(""); err != nil {
		return f, httpapi.ErrBadJSON("%s", err.Error())
	}
	return f, nil
}
