package clientapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"unicode/utf8"

	"foyer/internal/clientsync"
	"foyer/internal/httpapi"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// Bounds of POST /search beyond the term's (rooms.MaxSearchTermLength):
// results per page and events of context either side of each.
const (
	defaultSearchLimit = 10
	maxSearchLimit     = 50
	defaultContextSize = 5
	maxContextSize     = 20
)

// searchRoutes is server-side search: for users only, as the spec's
// guest list leaves it out (G-14) and Synapse refuses guests too.
func (a *API) searchRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: "POST", Path: httpapi.ClientV3 + "/search", Access: httpapi.UserOnly, Handle: a.search},
	}
}

type roomEventsCriteria struct {
	SearchTerm   *string                     `json:"search_term"`
	Keys         []string                    `json:"keys"`
	Filter       *clientsync.RoomEventFilter `json:"filter"`
	OrderBy      *string                     `json:"order_by"`
	EventContext *struct {
		BeforeLimit    *int `json:"before_limit"`
		AfterLimit     *int `json:"after_limit"`
		IncludeProfile bool `json:"include_profile"`
	} `json:"event_context"`
	IncludeState bool `json:"include_state"`
	Groupings    *struct {
		GroupBy []struct {
			Key string `json:"key"`
		} `json:"group_by"`
	} `json:"groupings"`
}

func (a *API) search(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		SearchCategories map[string]json.RawMessage `json:"search_categories"`
	}
	if err := httpapi.ReadJSON(r, &body); err != nil {
		return err
	}
	if body.SearchCategories == nil {
		return httpapi.ErrMissingParam("search_categories is required")
	}
	for name := range body.SearchCategories {
		if name != "room_events" {
			return httpapi.ErrInvalidParam("unknown search category %q: only room_events is supported", name)
		}
	}
	raw, ok := body.SearchCategories["room_events"]
	if !ok {
		return httpapi.ErrMissingParam("search_categories.room_events is required")
	}
	var crit roomEventsCriteria
	if err := httpapi.DecodeJSON(raw, &crit); err != nil {
		return err
	}
	req, groupBy, err := searchRequest(r, crit)
	if err != nil {
		return err
	}
	viewer := httpapi.Principal(r).UserID
	// Users the caller ignores are left out, as in sync and /messages.
	ignored, err := a.Sync.IgnoredBy(r.Context(), viewer)
	if err != nil {
		return err
	}
	req.Filter.NotSenders = append(req.Filter.NotSenders, sortedKeys(ignored)...)
	res, err := a.Rooms.Search(r.Context(), viewer, req)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"search_categories": map[string]any{"room_events": a.searchResponse(r, req, res, groupBy, ignored)},
	})
	return nil
}

// searchRequest checks the room_events criteria: each bad value is a 400
// naming it.
func searchRequest(r *http.Request, c roomEventsCriteria) (rooms.SearchRequest, []string, error) {
	var req rooms.SearchRequest
	if c.SearchTerm == nil {
		return req, nil, httpapi.ErrMissingParam("search_term is required")
	}
	if len(*c.SearchTerm) > rooms.MaxSearchTermLength || !utf8.ValidString(*c.SearchTerm) {
		return req, nil, httpapi.ErrInvalidParam("search_term must be at most %d bytes of UTF-8", rooms.MaxSearchTermLength)
	}
	req.Term = *c.SearchTerm
	for _, k := range c.Keys {
		if _, ok := rooms.SearchKeys[k]; !ok {
			return req, nil, httpapi.ErrInvalidParam("unknown key %q: keys are content.body, content.name and content.topic", k)
		}
	}
	req.Keys = c.Keys
	if c.OrderBy != nil {
		switch *c.OrderBy {
		case "rank":
		case "recent":
			req.Recent = true
		default:
			return req, nil, httpapi.ErrInvalidParam("order_by must be rank or recent")
		}
	}
	req.Limit = defaultSearchLimit
	if f := c.Filter; f != nil {
		if err := f.CheckListLengths("filter."); err != nil {
			return req, nil, httpapi.ErrBadJSON("%s", err.Error())
		}
		if f.Limit != nil {
			if *f.Limit < 0 {
				return req, nil, httpapi.ErrInvalidParam("filter.limit must not be negative")
			}
			req.Limit = min(*f.Limit, maxSearchLimit)
		}
		req.Rooms, req.NotRooms, req.Filter = f.Rooms, f.NotRooms, f.StoreFilter()
	}
	if ec := c.EventContext; ec != nil {
		ctx := &rooms.SearchContextRequest{Before: defaultContextSize, After: defaultContextSize, IncludeProfile: ec.IncludeProfile}
		for _, l := range []struct {
			name string
			in   *int
			out  *int
		}{{"before_limit", ec.BeforeLimit, &ctx.Before}, {"after_limit", ec.AfterLimit, &ctx.After}} {
			if l.in == nil {
				continue
			}
			if *l.in < 0 {
				return req, nil, httpapi.ErrInvalidParam("event_context.%s must not be negative", l.name)
			}
			*l.out = min(*l.in, maxContextSize)
		}
		req.Context = ctx
	}
	req.IncludeState = c.IncludeState
	var groupBy []string
	if g := c.Groupings; g != nil {
		for _, k := range g.GroupBy {
			if k.Key != "room_id" && k.Key != "sender" {
				return req, nil, httpapi.ErrInvalidParam("groupings.group_by keys are room_id or sender, not %q", k.Key)
			}
			if !slices.Contains(groupBy, k.Key) {
				groupBy = append(groupBy, k.Key)
			}
		}
	}
	if tok := r.URL.Query().Get("next_batch"); tok != "" {
		cur, ok := rooms.ParseSearchCursor(tok, req.Recent)
		if !ok {
			return req, nil, httpapi.ErrInvalidParam("next_batch is not a token this search gave")
		}
		req.Cursor = cur
	}
	return req, groupBy, nil
}

// searchGroup is one entry of groups.room_id or groups.sender.
type searchGroup struct {
	Results   []string `json:"results"`
	Order     float64  `json:"order"`
	NextBatch string   `json:"next_batch,omitempty"`
}

func (a *API) searchResponse(r *http.Request, req rooms.SearchRequest, res rooms.SearchResult, groupBy []string, ignored map[string]bool) map[string]any {
	ctx := r.Context()
	events := make([]rooms.StoredEvent, len(res.Hits))
	for i, h := range res.Hits {
		events[i] = h.Event
	}
	formatted := a.Rooms.ClientEvents(ctx, events, true)
	results := make([]map[string]any, len(res.Hits))
	for i, h := range res.Hits {
		results[i] = map[string]any{"rank": h.Rank, "result": formatted[i]}
		if c := h.Context; c != nil {
			before := clientsync.DropIgnored(c.Before, ignored)
			after := clientsync.DropIgnored(c.After, ignored)
			ec := map[string]any{
				"events_before": a.Rooms.ClientEvents(ctx, before, true),
				"events_after":  a.Rooms.ClientEvents(ctx, after, true),
				"start":         rooms.FormatTopoToken(c.Start),
				"end":           rooms.FormatTopoToken(c.End),
			}
			if c.Profiles != nil {
				ec["profile_info"] = c.Profiles
			}
			results[i]["context"] = ec
		}
	}
	out := map[string]any{
		"count":      res.Count,
		"highlights": res.Highlights,
		"results":    results,
	}
	next := ""
	if res.Next != nil {
		next = rooms.FormatSearchCursor(*res.Next)
		out["next_batch"] = next
	}
	if res.State != nil {
		state := map[string][]matrixevents.ClientEvent{}
		for roomID, evs := range res.State {
			state[roomID] = a.Rooms.ClientEvents(ctx, evs, true)
		}
		out["state"] = state
	}
	if len(groupBy) > 0 {
		groups := map[string]map[string]*searchGroup{}
		for _, key := range groupBy {
			byValue := map[string]*searchGroup{}
			for _, h := range res.Hits {
				value := h.Event.Event.RoomID()
				if key == "sender" {
					value = h.Event.Event.Sender()
				}
				g := byValue[value]
				if g == nil {
					g = &searchGroup{Results: []string{}, NextBatch: next}
					byValue[value] = g
				}
				g.Results = append(g.Results, h.Event.Event.EventID())
				// Groups order as their best result: rank, or how recent.
				order := h.Rank
				if req.Recent {
					order = float64(h.Event.Event.OriginServerTS())
				}
				if len(g.Results) == 1 || order > g.Order {
					g.Order = order
				}
			}
			groups[key] = byValue
		}
		out["groups"] = groups
	}
	return out
}

// sortedKeys lists a set's members in order (for stable requests).
func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
