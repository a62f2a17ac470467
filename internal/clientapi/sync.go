package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"foyer/internal/clientsync"
	"foyer/internal/cluster"
	"foyer/internal/httpapi"
)

// MaxSyncTimeout caps how long one long-poll is held (a follower
// process holding long-polls for the writer caps them alike).
const MaxSyncTimeout = 5 * time.Minute

func (a *API) syncHandler(w http.ResponseWriter, r *http.Request) error {
	p := httpapi.Principal(r)
	q := r.URL.Query()
	req := &clientsync.Request{UserID: p.UserID, DeviceID: p.DeviceID, Stopping: a.Stopping}
	var err error
	if req.Since, err = parseSyncToken(r, "since"); err != nil {
		return err
	}
	if req.Timeout, err = parseTimeout(r, 0); err != nil {
		return err
	}
	httpapi.AllowLongPoll(w, a.Config.HTTP, req.Timeout)
	if req.FullState, _, err = httpapi.BoolParam(r, "full_state"); err != nil {
		return err
	}
	// MSC4222: the stable name (spec v1.16) or the unstable one older
	// clients send, answered under the matching name.
	if req.UseStateAfter, _, err = httpapi.BoolParam(r, "use_state_after"); err != nil {
		return err
	}
	if !req.UseStateAfter {
		if req.UseStateAfter, _, err = httpapi.BoolParam(r, "org.matrix.msc4222.use_state_after"); err != nil {
			return err
		}
		req.StateAfterUnstable = req.UseStateAfter
	}
	switch q.Get("set_presence") {
	case "", "online", "offline", "unavailable":
	default:
		return httpapi.ErrInvalidParam("set_presence must be online, offline or unavailable")
	}
	if f := q.Get("filter"); f != "" {
		filter, err := a.loadFilter(r, p.UserID, f)
		if err != nil {
			return err
		}
		req.Filter = filter
	}
	a.Presence.SyncStarted(r.Context(), p.UserID, q.Get("set_presence"))
	if req.Timeout > 0 && cluster.PolledElsewhere(r) {
		return a.pollForFollower(w, r, req)
	}
	resp, err := a.Sync.Sync(r.Context(), req)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// loadFilter reads a filter given inline (JSON) or by ID.
func (a *API) loadFilter(r *http.Request, userID, f string) (clientsync.Filter, error) {
	raw := []byte(f)
	byID := !strings.HasPrefix(strings.TrimSpace(f), "{")
	if byID {
		if filter, ok := a.filters.get(userID, f); ok {
			return filter, nil
		}
		stored, err := a.Filters.GetFilter(r.Context(), userID, f)
		if errors.Is(err, clientsync.ErrFilterNotFound) {
			return clientsync.Filter{}, httpapi.ErrNotFound("no filter %q", f)
		}
		if err != nil {
			return clientsync.Filter{}, err
		}
		raw = stored
	}
	if err := httpapi.CheckJSONText(raw); err != nil {
		return clientsync.Filter{}, err
	}
	filter, err := clientsync.ParseFilter(raw)
	if errors.Is(err, clientsync.ErrFilterListTooLong) {
		return filter, httpapi.ErrBadJSON("%s", err.Error())
	}
	if err != nil {
		return filter, httpapi.ErrInvalidParam("%s", err.Error())
	}
	if byID {
		a.filters.put(userID, f, filter)
	}
	return filter, nil
}

func (a *API) createFilter(w http.ResponseWriter, r *http.Request) error {
	if err := a.throttleGuestWrite(r); err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := httpapi.ReadJSON(r, &body); err != nil {
		return err
	}
	raw, _ := json.Marshal(body)
	if f, err := clientsync.ParseFilter(raw); err != nil {
		return httpapi.ErrBadJSON("%s", err.Error())
	} else if err := f.CheckIDs(); err != nil {
		return httpapi.ErrInvalidParam("%s", err.Error())
	}
	id, err := a.Filters.CreateFilter(r.Context(), httpapi.Principal(r).UserID, raw)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"filter_id": id})
	return nil
}

func (a *API) getFilter(w http.ResponseWriter, r *http.Request) error {
	raw, err := a.Filters.GetFilter(r.Context(), httpapi.Principal(r).UserID, r.PathValue("filterId"))
	if errors.Is(err, clientsync.ErrFilterNotFound) {
		return httpapi.ErrNotFound("no such filter")
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, json.RawMessage(raw))
	return nil
}

func (a *API) syncRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: "GET", Path: httpapi.ClientV3 + "/sync", Access: httpapi.GuestOK, Handle: a.syncHandler},
		{Method: "POST", Path: httpapi.ClientV3 + "/user/{userId}/filter", Access: httpapi.GuestOK, Own: true, Handle: a.createFilter},
		{Method: "GET", Path: httpapi.ClientV3 + "/user/{userId}/filter/{filterId}", Access: httpapi.GuestOK, Own: true, Handle: a.getFilter},
	}
}

// pollForFollower answers a long-poll that a follower process holds: at
// once, and when nothing is new with what the follower waits for before
// asking again (cluster.LongPolls).
func (a *API) pollForFollower(w http.ResponseWriter, r *http.Request, req *clientsync.Request) error {
	resp, listen, err := a.Sync.PollOnce(r.Context(), req)
	if err != nil {
		return err
	}
	if listen == nil {
		httpapi.WriteJSON(w, http.StatusOK, resp)
		return nil
	}
	w.Header().Set(cluster.PollAnswerHeader, "wait")
	httpapi.WriteJSON(w, http.StatusOK, cluster.PolledAnswer{Listen: *listen, Response: resp})
	return nil
}
