package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"foyer/internal/httpapi"
	"foyer/internal/pushsender"
	"foyer/internal/rooms"
)

// NotificationLister lists a user's notifications
// (storage.PushNotificationStore).
type NotificationLister interface {
	Notifications(ctx context.Context, userID string, before int64, limit int, onlyHighlight bool) (pushsender.NotificationPage, error)
}

// Page sizes of GET /notifications.
const (
	defaultNotificationsLimit = 50
	maxNotificationsLimit     = 1000
)

func (a *API) notificationRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: "GET", Path: httpapi.ClientV3 + "/notifications", Access: httpapi.UserOnly, Handle: a.getNotifications},
	}
}

type notificationJSON struct {
	Actions []json.RawMessage `json:"actions"`
	Event   any               `json:"event"`
	// ProfileTag is the profile tag of the rule that matched: rules have
	// none here, so it is null, as on Synapse.
	ProfileTag *string `json:"profile_tag"`
	Read       bool    `json:"read"`
	RoomID     string  `json:"room_id"`
	TS         int64   `json:"ts"`
}

// getNotifications serves GET /notifications: the events that notified
// the user, newest first; only=highlight keeps those that highlighted.
// from is the next_token of the previous page.
func (a *API) getNotifications(w http.ResponseWriter, r *http.Request) error {
	p := httpapi.Principal(r)
	q := r.URL.Query()
	var before int64
	if from := q.Get("from"); from != "" {
		n, err := strconv.ParseInt(from, 10, 64)
		if err != nil || n <= 0 {
			return httpapi.ErrInvalidParam("from must be a next_token from an earlier /notifications answer")
		}
		before = n
	}
	limit, err := httpapi.ParseLimit(r, defaultNotificationsLimit)
	if err != nil {
		return err
	}
	limit = min(limit, maxNotificationsLimit)
	onlyHighlight := strings.Contains(q.Get("only"), "highlight")
	out := map[string]any{"notifications": []notificationJSON{}}
	if limit == 0 || a.Notifications == nil {
		httpapi.WriteJSON(w, http.StatusOK, out)
		return nil
	}
	page, err := a.Notifications.Notifications(r.Context(), p.UserID, before, limit, onlyHighlight)
	if err != nil {
		return err
	}
	ids := make([]string, len(page.Notifications))
	for i, n := range page.Notifications {
		ids[i] = n.EventID
	}
	stored, err := a.Rooms.Store().GetEvents(r.Context(), ids)
	if err != nil {
		return err
	}
	var events []rooms.StoredEvent
	for _, n := range page.Notifications {
		if se, ok := stored[n.EventID]; ok {
			events = append(events, se)
		}
	}
	formatted := map[string]any{}
	for _, ce := range a.Rooms.ClientEvents(rooms.WithViewer(r.Context(), p.UserID, p.DeviceID), events, false) {
		formatted[ce.EventID] = ce
	}
	readUpTo := map[string]int64{}
	list := make([]notificationJSON, 0, len(page.Notifications))
	for _, n := range page.Notifications {
		ev, ok := formatted[n.EventID]
		if !ok && n.Event != nil {
			// An invite into a room this server is not in: the event as
			// the inviting server sent it, in the client format.
			ev, ok = strippedClientEvent(n.EventID, n.Event)
		}
		if !ok {
			continue
		}
		read, seen := readUpTo[n.RoomID]
		if !seen {
			if read, err = a.ClientData.ReadUpTo(r.Context(), p.UserID, n.RoomID); err != nil {
				return err
			}
			readUpTo[n.RoomID] = read
		}
		actions := n.Actions
		if actions == nil {
			actions = []json.RawMessage{}
		}
		list = append(list, notificationJSON{Actions: actions, Event: ev, Read: n.StreamPos <= read, RoomID: n.RoomID, TS: n.TS})
	}
	out["notifications"] = list
	if page.Next > 0 {
		out["next_token"] = strconv.FormatInt(page.Next, 10)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// strippedClientEvent is a federation event's client-visible fields.
func strippedClientEvent(eventID string, raw json.RawMessage) (any, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return nil, false
	}
	out := map[string]json.RawMessage{}
	for _, k := range []string{"type", "state_key", "sender", "content", "origin_server_ts"} {
		if v, ok := fields[k]; ok {
			out[k] = v
		}
	}
	id, _ := json.Marshal(eventID)
	out["event_id"] = id
	return out, true
}
