package rooms

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"foyer/internal/rooms/matrixevents"
)

// SearchRequest is POST /search's room_events category, checked.
type SearchRequest struct {
	Term string
	// Keys are SearchKeys entries (none: all three).
	Keys []string
	// Rooms (nil: every room) and NotRooms narrow the rooms searched,
	// which are the rooms the viewer is joined to, as in Synapse.
	Rooms, NotRooms []string
	Filter          EventFilter
	Recent          bool
	Limit           int
	Cursor          SearchCursor
	// Context, when set, asks for events around each result.
	Context      *SearchContextRequest
	IncludeState bool
}

// SearchContextRequest is event_context.
type SearchContextRequest struct {
	Before, After  int
	IncludeProfile bool
}

// SearchCursor is where a page of search results starts: by rank, the
// matches to skip; newest first, below a stream position. The zero value
// is the first page.
type SearchCursor struct {
	Offset int
	Before *int64
}

// FormatSearchCursor writes a cursor as an opaque next_batch token.
func FormatSearchCursor(c SearchCursor) string {
	raw := "r" + strconv.Itoa(c.Offset)
	if c.Before != nil {
		raw = "t" + strconv.FormatInt(*c.Before, 10)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ParseSearchCursor reads a next_batch token; recent says which order the
// request pages in, and a token of the other order is refused.
func ParseSearchCursor(tok string, recent bool) (SearchCursor, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 2 {
		return SearchCursor{}, false
	}
	n, err := strconv.ParseInt(string(raw[1:]), 10, 64)
	if err != nil {
		return SearchCursor{}, false
	}
	switch {
	case raw[0] == 'r' && !recent && n >= 0 && n <= maxSearchOffset:
		return SearchCursor{Offset: int(n)}, true
	case raw[0] == 't' && recent:
		return SearchCursor{Before: &n}, true
	}
	return SearchCursor{}, false
}

// maxSearchOffset bounds how deep rank order pages (each page skips the
// rows before it in the database).
const maxSearchOffset = 10000

// SearchResult is a page of search results before formatting.
type SearchResult struct {
	Hits  []SearchResultHit
	Count int
	// Highlights are words of the results the term matched.
	Highlights []string
	// Next is the cursor of the next page (nil: none).
	Next *SearchCursor
	// State is the current state of each room with a result, when asked.
	State map[string][]StoredEvent
}

// SearchResultHit is one result.
type SearchResultHit struct {
	Event   StoredEvent
	Rank    float64
	Context *SearchContext
}

// SearchContext is the events around a result.
type SearchContext struct {
	Before, After []StoredEvent
	Start, End    TopoPos
	// Profiles are the senders' display names and avatars, as the room's
	// member events have them now.
	Profiles map[string]SearchProfile
}

// SearchProfile is an entry of profile_info.
type SearchProfile struct {
	DisplayName *string `json:"displayname,omitempty"`
	AvatarURL   *string `json:"avatar_url,omitempty"`
}

// searchRounds bounds the queries one page may take when the viewer may
// not see many of the matches.
const searchRounds = 10

// Search finds events of the rooms userID is joined to, as userID may see
// them: the index is asked in batches in the order wanted and each match
// passes the same visibility check as /messages and /context.
func (s *Service) Search(ctx context.Context, userID string, req SearchRequest) (SearchResult, error) {
	joined, err := s.store.RoomsWithMembership(ctx, userID, "join")
	if err != nil {
		return SearchResult{}, err
	}
	roomIDs := joined[:0:0]
	for _, id := range joined {
		if (req.Rooms == nil || slices.Contains(req.Rooms, id)) && !slices.Contains(req.NotRooms, id) {
			roomIDs = append(roomIDs, id)
		}
	}
	keys := req.Keys
	if len(keys) == 0 {
		keys = []string{"content.body", "content.name", "content.topic"}
	}
	var types []string
	for _, k := range keys {
		if t, ok := SearchKeys[k]; ok && !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	expr := ParseSearchTerm(req.Term)
	q := SearchQuery{Viewer: userID, RoomIDs: roomIDs, Expr: expr, Types: types, Filter: req.Filter,
		Recent: req.Recent, Before: req.Cursor.Before, Offset: req.Cursor.Offset, Limit: max(2*req.Limit, 10)}
	var res SearchResult
	if res.Count, err = s.store.CountSearch(ctx, q); err != nil {
		return SearchResult{}, err
	}
	readers := map[string]reader{}
	readerOf := func(roomID string) (reader, error) {
		if r, ok := readers[roomID]; ok {
			return r, nil
		}
		r, err := s.openReader(ctx, userID, roomID)
		if err == nil {
			readers[roomID] = r
		}
		return r, err
	}
	exhausted := false
	for round := 0; round < searchRounds && len(res.Hits) < req.Limit && !exhausted; round++ {
		batch, err := s.store.SearchEvents(ctx, q)
		if err != nil {
			return SearchResult{}, err
		}
		consumed := 0
		for _, h := range batch {
			if len(res.Hits) == req.Limit {
				break
			}
			consumed++
			q.Offset++
			pos := h.Event.StreamPos
			q.Before = &pos
			r, err := readerOf(h.Event.Event.RoomID())
			if err != nil {
				return SearchResult{}, err
			}
			if CanSee(r.vh.visibilityOf(h.Event)) {
				res.Hits = append(res.Hits, SearchResultHit{Event: h.Event, Rank: h.Rank})
			}
		}
		exhausted = len(batch) < q.Limit && consumed == len(batch)
	}
	// A full page may have more after it, as far as the client can tell
	// (Synapse gives next_batch after any page with results; Complement
	// pages on after a full last page and expects an empty one).
	more := !exhausted || len(res.Hits) == req.Limit
	if more && req.Limit > 0 && (q.Recent || q.Offset <= maxSearchOffset) {
		next := SearchCursor{Offset: q.Offset, Before: q.Before}
		if !q.Recent {
			next.Before = nil
		}
		res.Next = &next
	}
	res.Highlights = searchHighlights(expr, res.Hits)
	for i := range res.Hits {
		h := &res.Hits[i]
		r := readers[h.Event.Event.RoomID()]
		if req.Context != nil {
			if h.Context, err = s.searchContext(ctx, r, h.Event, *req.Context); err != nil {
				return SearchResult{}, err
			}
		}
		if req.IncludeState {
			if res.State == nil {
				res.State = map[string][]StoredEvent{}
			}
			if _, ok := res.State[h.Event.Event.RoomID()]; !ok {
				res.State[h.Event.Event.RoomID()] = sortedState(r.snap)
			}
		}
	}
	return res, nil
}

// searchContext pages either side of a result, as /context does.
func (s *Service) searchContext(ctx context.Context, r reader, se StoredEvent, c SearchContextRequest) (*SearchContext, error) {
	bp, ap, err := s.around(ctx, r, se.Event.RoomID(), se, c.Before, c.After, EventFilter{})
	if err != nil {
		return nil, err
	}
	out := &SearchContext{Before: bp.Events, After: ap.Events, Start: bp.End, End: ap.End}
	if c.IncludeProfile {
		out.Profiles = map[string]SearchProfile{}
		for _, ev := range append(append([]StoredEvent{se}, bp.Events...), ap.Events...) {
			sender := ev.Event.Sender()
			if _, ok := out.Profiles[sender]; ok {
				continue
			}
			var p SearchProfile
			if m, ok := r.snap.State[matrixevents.StateTuple{Type: matrixevents.TypeMember, StateKey: sender}]; ok {
				var content struct {
					DisplayName *string `json:"displayname"`
					AvatarURL   *string `json:"avatar_url"`
				}
				_ = json.Unmarshal(m.Event.Content(), &content)
				p = SearchProfile{DisplayName: content.DisplayName, AvatarURL: content.AvatarURL}
			}
			out.Profiles[sender] = p
		}
	}
	return out, nil
}

// searchHighlights are the words the term asked for and the words of the
// results that begin with one of them, lower-cased, for clients to mark.
func searchHighlights(expr SearchExpr, hits []SearchResultHit) []string {
	wanted := expr.PositiveWords()
	seen := map[string]bool{}
	out := []string{}
	add := func(w string) {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	for _, w := range wanted {
		add(w)
	}
	for _, h := range hits {
		text, ok := SearchText(h.Event.Event)
		if !ok {
			continue
		}
		for _, w := range searchWords(text) {
			if slices.ContainsFunc(wanted, func(q string) bool { return strings.HasPrefix(w, q) }) {
				add(w)
			}
		}
	}
	return out
}
