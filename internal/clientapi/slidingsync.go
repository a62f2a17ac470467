package clientapi

import (
	"errors"
	"net/http"

	"foyer/internal/cluster"
	"foyer/internal/httpapi"
	"foyer/internal/slidingsync"
)

// SlidingSyncPath is where simplified sliding sync (MSC4186) is served,
// under the unstable prefix clients use for it.
const SlidingSyncPath = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"

func (a *API) slidingSyncRoutes() []httpapi.Route {
	if a.SlidingSync == nil {
		return nil
	}
	return []httpapi.Route{
		{Method: "POST", Path: SlidingSyncPath, Access: httpapi.GuestOK, Handle: a.slidingSync},
	}
}

func (a *API) slidingSync(w http.ResponseWriter, r *http.Request) error {
	p := httpapi.Principal(r)
	req := &slidingsync.Request{UserID: p.UserID, DeviceID: p.DeviceID, Pos: r.URL.Query().Get("pos")}
	var err error
	if req.Timeout, err = parseTimeout(r, 0); err != nil {
		return err
	}
	raw, err := httpapi.ReadBody(r)
	if err != nil {
		return err
	}
	if len(raw) > 0 {
		if err := httpapi.CheckJSONText(raw); err != nil {
			return err
		}
	}
	if req.Body, err = slidingsync.ParseBody(raw); err != nil {
		return httpapi.ErrBadJSON("%s", err.Error())
	}
	// As with /sync, polling marks the user online unless set_presence
	// says otherwise.
	setPresence := r.URL.Query().Get("set_presence")
	switch setPresence {
	case "", "online", "offline", "unavailable":
	default:
		return httpapi.ErrInvalidParam("set_presence must be online, offline or unavailable")
	}
	httpapi.AllowLongPoll(w, a.Config.HTTP, req.Timeout)
	if a.Presence != nil {
		a.Presence.SyncStarted(r.Context(), p.UserID, setPresence)
	}
	req.HeldElsewhere = req.Timeout > 0 && cluster.PolledElsewhere(r)
	resp, err := a.SlidingSync.Sync(r.Context(), a.Stopping, req)
	if errors.Is(err, slidingsync.ErrUnknownPos) {
		return &httpapi.Error{Status: http.StatusBadRequest, Code: "M_UNKNOWN_POS", Message: err.Error()}
	}
	if err != nil {
		return err
	}
	if req.Listen != nil {
		w.Header().Set(cluster.PollAnswerHeader, "wait")
		httpapi.WriteJSON(w, http.StatusOK, cluster.PolledAnswer{Listen: *req.Listen})
		return nil
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
	return nil
}
