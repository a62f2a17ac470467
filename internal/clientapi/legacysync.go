package clientapi

import (
	"net/http"
	"strconv"
	"time"

	"foyer/internal/clientsync"
	"foyer/internal/httpapi"
)

// parseTimeout reads a timeout query parameter in milliseconds.
func parseTimeout(r *http.Request, def time.Duration) (time.Duration, error) {
	t := r.URL.Query().Get("timeout")
	if t == "" {
		return def, nil
	}
	ms, err := strconv.ParseInt(t, 10, 64)
	if err != nil || ms < 0 {
		return 0, httpapi.ErrInvalidParam("timeout must be a non-negative number of milliseconds")
	}
	return min(time.Duration(ms)*time.Millisecond, MaxSyncTimeout), nil
}

// parseSyncToken reads an optional sync token from the query parameter
// name; nil when absent.
func parseSyncToken(r *http.Request, name string) (*clientsync.Token, error) {
	return httpapi.TokenParam(r, name, clientsync.ParseToken)
}

// events is GET /events: with room_id, the room-preview long-poll open
// to guests (G-33); without, the deprecated global stream, not for guests.
func (a *API) events(w http.ResponseWriter, r *http.Request) error {
	p := httpapi.Principal(r)
	from, err := parseSyncToken(r, "from")
	if err != nil {
		return err
	}
	timeout, err := parseTimeout(r, 30*time.Second)
	if err != nil {
		return err
	}
	httpapi.AllowLongPoll(w, a.Config.HTTP, timeout)
	roomID := r.URL.Query().Get("room_id")
	var page clientsync.EventsPage
	if roomID != "" {
		page, err = a.Sync.RoomEvents(r.Context(), p.UserID, roomID, from, timeout, a.Stopping)
		if err != nil {
			return err
		}
	} else {
		if p.IsGuest() {
			return httpapi.ErrGuestForbidden("guests may only use /events with a room_id, to preview a room")
		}
		// The global stream is a client's sync loop: it keeps the user
		// online, as /sync does (a room preview records nothing, G-34).
		a.Presence.SyncStarted(r.Context(), p.UserID, "")
		page, err = a.Sync.UserEvents(r.Context(), p.UserID, from, timeout, a.Stopping)
		if err != nil {
			return err
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
	return nil
}

func (a *API) roomInitialSync(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	limit, err := httpapi.ParseLimit(r, 10)
	if err != nil {
		return err
	}
	out, err := a.Sync.RoomInitialSync(r.Context(), httpapi.Principal(r).UserID, roomID, limit)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) initialSync(w http.ResponseWriter, r *http.Request) error {
	limit, err := httpapi.ParseLimit(r, 10)
	if err != nil {
		return err
	}
	a.Presence.SyncStarted(r.Context(), httpapi.Principal(r).UserID, "")
	out, err := a.Sync.InitialSync(r.Context(), httpapi.Principal(r).UserID, limit, r.URL.Query().Get("archived") == "true")
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) legacySyncRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: "GET", Path: httpapi.ClientV3 + "/events", Access: httpapi.GuestOK, Handle: a.events},
		{Method: "GET", Path: httpapi.ClientV3 + "/initialSync", Access: httpapi.UserOnly, Handle: a.initialSync},
		{Method: "GET", Path: httpapi.ClientV3 + "/rooms/{roomId}/initialSync", Access: httpapi.GuestOK, Handle: a.roomInitialSync},
	}
}
