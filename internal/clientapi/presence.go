package clientapi

import (
	"net/http"

	"foyer/internal/httpapi"
	"foyer/internal/presence"
)

func (a *API) getPresence(w http.ResponseWriter, r *http.Request) error {
	target := r.PathValue("userId")
	shares, err := a.Rooms.SharesRoom(r.Context(), httpapi.Principal(r).UserID, target)
	if err != nil {
		return err
	}
	if !shares {
		return httpapi.ErrForbidden("you can only see the presence of people you share a room with")
	}
	st, err := a.Presence.Get(r.Context(), target)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, a.Presence.Event(st)["content"])
	return nil
}

func (a *API) setPresence(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Presence  *string `json:"presence"`
		StatusMsg *string `json:"status_msg"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Presence == nil {
		return httpapi.ErrMissingParam("presence is required")
	}
	switch *req.Presence {
	case presence.Online, presence.Offline, presence.Unavailable:
	default:
		return httpapi.ErrInvalidParam("presence must be online, offline or unavailable")
	}
	if req.StatusMsg != nil && len(*req.StatusMsg) > 1024 {
		return httpapi.ErrInvalidParam("status_msg is longer than 1024 bytes")
	}
	if err := a.Presence.Set(r.Context(), httpapi.Principal(r).UserID, *req.Presence, req.StatusMsg, *req.Presence == presence.Online); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) presenceRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: "GET", Path: httpapi.ClientV3 + "/presence/{userId}/status", Access: httpapi.UserOnly, Handle: a.getPresence},
		{Method: "PUT", Path: httpapi.ClientV3 + "/presence/{userId}/status", Access: httpapi.UserOnly, Own: true, Handle: a.setPresence},
	}
}
