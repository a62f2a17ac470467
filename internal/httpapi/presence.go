package httpapi

import (
	"net/http"

	"foyer/internal/presence"
)

func (a *API) getPresence(w http.ResponseWriter, r *http.Request) error {
	target := r.PathValue("userId")
	shares, err := a.Rooms.SharesRoom(r.Context(), principal(r).UserID, target)
	if err != nil {
		return err
	}
	if !shares {
		return errForbidden("you can only see the presence of people you share a room with")
	}
	st, err := a.Presence.Get(r.Context(), target)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.Presence.Event(st)["content"])
	return nil
}

func (a *API) setPresence(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Presence  *string `json:"presence"`
		StatusMsg *string `json:"status_msg"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Presence == nil {
		return errMissingParam("presence is required")
	}
	switch *req.Presence {
	case presence.Online, presence.Offline, presence.Unavailable:
	default:
		return errInvalidParam("presence must be online, offline or unavailable")
	}
	if req.StatusMsg != nil && len(*req.StatusMsg) > 1024 {
		return errInvalidParam("status_msg is longer than 1024 bytes")
	}
	if err := a.Presence.Set(r.Context(), principal(r).UserID, *req.Presence, req.StatusMsg, *req.Presence == presence.Online); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) presenceRoutes() []route {
	return []route{
		{Method: "GET", Path: clientV3 + "/presence/{userId}/status", Access: UserOnly, Handle: a.getPresence},
		{Method: "PUT", Path: clientV3 + "/presence/{userId}/status", Access: UserOnly, Own: true, Handle: a.setPresence},
	}
}
