package clientapi

import (
	"net/http"
	"strconv"

	"foyer/internal/httpapi"
	"foyer/internal/rooms"
)

// relationRoutes are relations, threads, space hierarchies and jumping to
// a date (v1.2 to v1.10). None is on the guest list: guests get 403
// M_GUEST_ACCESS_FORBIDDEN.
func (a *API) relationRoutes() []httpapi.Route {
	const room = httpapi.ClientV1 + "/rooms/{roomId}"
	return []httpapi.Route{
		{Method: "GET", Path: room + "/relations/{eventId}", Access: httpapi.UserOnly, Handle: a.getRelations},
		{Method: "GET", Path: room + "/relations/{eventId}/{relType}", Access: httpapi.UserOnly, Handle: a.getRelations},
		{Method: "GET", Path: room + "/relations/{eventId}/{relType}/{eventType}", Access: httpapi.UserOnly, Handle: a.getRelations},
		{Method: "GET", Path: room + "/threads", Access: httpapi.UserOnly, Handle: a.getThreads},
		{Method: "GET", Path: room + "/hierarchy", Access: httpapi.UserOnly, Handle: a.getHierarchy},
		{Method: "GET", Path: room + "/timestamp_to_event", Access: httpapi.UserOnly, Handle: a.timestampToEvent},
	}
}

// positiveLimit reads an optional limit that must be above zero.
func positiveLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, httpapi.ErrInvalidParam("limit must be an integer greater than zero")
	}
	return n, nil
}

func (a *API) getRelations(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	q := rooms.RelationsQuery{RelType: r.PathValue("relType"), EventType: r.PathValue("eventType"), Backwards: true}
	switch r.URL.Query().Get("dir") {
	case "", "b":
	case "f":
		q.Backwards = false
	default:
		return httpapi.ErrInvalidParam("dir must be b or f")
	}
	if q.From, err = parseStreamTokenParam(r, "from"); err != nil {
		return err
	}
	if q.To, err = parseStreamTokenParam(r, "to"); err != nil {
		return err
	}
	if q.Limit, err = httpapi.ParseLimit(r, 0); err != nil {
		return err
	}
	recurse, recurseGiven, err := httpapi.BoolParam(r, "recurse")
	if err != nil {
		return err
	}
	q.Recurse = recurse
	userID := httpapi.Principal(r).UserID
	page, err := a.Rooms.Relations(r.Context(), userID, roomID, r.PathValue("eventId"), q)
	if err != nil {
		return err
	}
	resp := map[string]any{"chunk": a.Rooms.ClientEvents(r.Context(), page.Events, true)}
	if page.Next != nil {
		resp["next_batch"] = rooms.FormatToken(*page.Next)
	}
	if from := r.URL.Query().Get("from"); from != "" {
		resp["prev_batch"] = from
	}
	if recurseGiven {
		resp["recursion_depth"] = page.Depth
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (a *API) getThreads(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	var q rooms.ThreadsQuery
	switch r.URL.Query().Get("include") {
	case "", "all":
	case "participated":
		q.Participated = true
	default:
		return httpapi.ErrInvalidParam("include must be all or participated")
	}
	if q.From, err = parseStreamTokenParam(r, "from"); err != nil {
		return err
	}
	if q.Limit, err = positiveLimit(r); err != nil {
		return err
	}
	userID := httpapi.Principal(r).UserID
	page, err := a.Rooms.Threads(r.Context(), userID, roomID, q)
	if err != nil {
		return err
	}
	resp := map[string]any{"chunk": a.Rooms.ClientEvents(r.Context(), page.Roots, true)}
	if page.Next != nil {
		resp["next_batch"] = rooms.FormatToken(*page.Next)
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (a *API) getHierarchy(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	q := rooms.HierarchyQuery{MaxDepth: -1, From: r.URL.Query().Get("from")}
	if q.Limit, err = positiveLimit(r); err != nil {
		return err
	}
	if v := r.URL.Query().Get("max_depth"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return httpapi.ErrInvalidParam("max_depth must be a non-negative integer")
		}
		q.MaxDepth = n
	}
	if q.SuggestedOnly, _, err = httpapi.BoolParam(r, "suggested_only"); err != nil {
		return err
	}
	page, err := a.Rooms.Hierarchy(r.Context(), httpapi.Principal(r).UserID, roomID, q)
	if err != nil {
		return err
	}
	resp := map[string]any{"rooms": page.Rooms}
	if page.NextBatch != "" {
		resp["next_batch"] = page.NextBatch
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (a *API) timestampToEvent(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	query := r.URL.Query()
	rawTS := query.Get("ts")
	if rawTS == "" {
		return httpapi.ErrMissingParam("ts is required: a timestamp in milliseconds")
	}
	ts, err := strconv.ParseInt(rawTS, 10, 64)
	if err != nil {
		return httpapi.ErrInvalidParam("ts must be an integer timestamp in milliseconds")
	}
	var backwards bool
	switch query.Get("dir") {
	case "f":
	case "b":
		backwards = true
	case "":
		return httpapi.ErrMissingParam("dir is required: f or b")
	default:
		return httpapi.ErrInvalidParam("dir must be f or b")
	}
	se, err := a.Rooms.EventAtTimestamp(r.Context(), httpapi.Principal(r).UserID, roomID, ts, backwards)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"event_id": se.Event.EventID(), "origin_server_ts": se.Event.OriginServerTS()})
	return nil
}
