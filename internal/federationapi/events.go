package federationapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"foyer/internal/httpapi"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// maxEventRefs bounds the event IDs one request of another server may
// name (backfill's v, get_missing_events' earliest and latest events).
const maxEventRefs = 100

// Requests for the room DAG from one origin: a sustained rate and a
// burst, enough for a server catching up on a room (a gap, a backfill),
// small enough that one server cannot keep this one walking the DAG.
const (
	dagPerSecond = 20
	dagBurst     = 100
)

// dagRead applies each origin's rate of DAG requests (429
// M_LIMIT_EXCEEDED beyond it) to h.
func (a *API) dagRead(h httpapi.HandlerFunc) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if ok, wait := a.dagLimit.Allow(Origin(r.Context())); !ok {
			return httpapi.ErrLimitExceeded(wait)
		}
		return h(w, r)
	}
}

// getEvent is GET /_matrix/federation/v1/event/{eventId}: a transaction
// holding the one event, redacted when the asking server may not see it.
func (a *API) getEvent(w http.ResponseWriter, r *http.Request) error {
	ev, err := a.Rooms.EventForServer(r.Context(), Origin(r.Context()), r.PathValue("eventId"))
	if err != nil {
		return err
	}
	a.writeTransaction(w, []matrixevents.Event{ev})
	return nil
}

// getState is GET /_matrix/federation/v1/state/{roomId}?event_id=: the
// state before the event and the auth chain of that state.
func (a *API) getState(w http.ResponseWriter, r *http.Request) error {
	at, err := a.stateAt(r)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"pdus":       eventsJSON(at.State),
		"auth_chain": eventsJSON(at.AuthChain),
	})
	return nil
}

// getStateIDs is GET /_matrix/federation/v1/state_ids/{roomId}?event_id=:
// /state by event IDs.
func (a *API) getStateIDs(w http.ResponseWriter, r *http.Request) error {
	at, err := a.stateAt(r)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"pdu_ids":        eventIDs(at.State),
		"auth_chain_ids": eventIDs(at.AuthChain),
	})
	return nil
}

func (a *API) stateAt(r *http.Request) (rooms.StateAtEvent, error) {
	eventID := r.URL.Query().Get("event_id")
	if eventID == "" {
		return rooms.StateAtEvent{}, httpapi.ErrMissingParam("event_id is required")
	}
	return a.Rooms.StateForServer(r.Context(), Origin(r.Context()), r.PathValue("roomId"), eventID)
}

// getEventAuth is GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}:
// the event's full auth chain.
func (a *API) getEventAuth(w http.ResponseWriter, r *http.Request) error {
	chain, err := a.Rooms.AuthChainForServer(r.Context(), Origin(r.Context()), r.PathValue("roomId"), r.PathValue("eventId"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"auth_chain": eventsJSON(chain)})
	return nil
}

// getMissingEvents is POST /_matrix/federation/v1/get_missing_events/{roomId}.
func (a *API) getMissingEvents(w http.ResponseWriter, r *http.Request) error {
	body, err := httpapi.ReadBody(r)
	if err != nil {
		return err
	}
	var req struct {
		Earliest *[]string `json:"earliest_events"`
		Latest   *[]string `json:"latest_events"`
		Limit    *int      `json:"limit"`
		MinDepth int64     `json:"min_depth"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return httpapi.ErrBadJSON("the body is not a get_missing_events request: %v", err)
	}
	// Absent lists are empty ones, as Synapse takes them: nothing to walk
	// from, nothing missing (the room's access checks still apply).
	if req.Earliest == nil {
		req.Earliest = &[]string{}
	}
	if req.Latest == nil {
		req.Latest = &[]string{}
	}
	if len(*req.Earliest) > maxEventRefs || len(*req.Latest) > maxEventRefs {
		return httpapi.ErrBadJSON("at most %d earliest_events and %d latest_events", maxEventRefs, maxEventRefs)
	}
	limit := rooms.DefaultMissingEvents
	if req.Limit != nil {
		if *req.Limit < 1 {
			return httpapi.ErrBadJSON("limit must be positive")
		}
		limit = *req.Limit
	}
	events, err := a.Rooms.MissingEventsForServer(r.Context(), Origin(r.Context()), r.PathValue("roomId"), *req.Earliest, *req.Latest, limit, req.MinDepth)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"events": eventsJSON(events)})
	return nil
}

// getBackfill is GET /_matrix/federation/v1/backfill/{roomId}?v=...&limit=:
// a transaction of the events v and those before them.
func (a *API) getBackfill(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from := q["v"]
	if len(from) == 0 {
		return httpapi.ErrMissingParam("v is required")
	}
	if len(from) > maxEventRefs {
		return httpapi.ErrInvalidParam("at most %d v", maxEventRefs)
	}
	if q.Get("limit") == "" {
		return httpapi.ErrMissingParam("limit is required")
	}
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 {
		return httpapi.ErrInvalidParam("limit must be a positive integer")
	}
	events, err := a.Rooms.BackfillForServer(r.Context(), Origin(r.Context()), r.PathValue("roomId"), from, limit)
	if err != nil {
		return err
	}
	a.writeTransaction(w, events)
	return nil
}

// writeTransaction answers with a transaction of this server holding pdus.
func (a *API) writeTransaction(w http.ResponseWriter, pdus []matrixevents.Event) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"origin":           a.Keys.ServerName(),
		"origin_server_ts": time.Now().UnixMilli(),
		"pdus":             eventsJSON(pdus),
	})
}

func eventIDs(events []matrixevents.Event) []string {
	out := make([]string, 0, len(events))
	for _, ev := range events {
		out = append(out, ev.EventID())
	}
	return out
}
