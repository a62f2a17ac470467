package rooms

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// HierarchyQuery is GET /hierarchy, parsed.
type HierarchyQuery struct {
	// Limit caps the rooms per page (0: the default); MaxDepth is how far
	// below the root to go (the root is depth 0; negative: the default).
	Limit, MaxDepth int
	SuggestedOnly   bool
	// From is a next_batch token.
	From string
}

// Defaults and caps of /hierarchy's limit and max_depth.
const (
	HierarchyDefaultLimit = 50
	HierarchyMaxLimit     = 100
	HierarchyMaxDepth     = 10
)

// StrippedChild is an m.space.child event as children_state carries it:
// stripped state with origin_server_ts.
type StrippedChild struct {
	Type           string          `json:"type"`
	StateKey       string          `json:"state_key"`
	Content        json.RawMessage `json:"content"`
	Sender         string          `json:"sender"`
	OriginServerTS int64           `json:"origin_server_ts"`
}

// HierarchyRoom is one room of a space hierarchy: its summary and, for
// spaces, its m.space.child events.
type HierarchyRoom struct {
	RoomSummary
	ChildrenState []StrippedChild `json:"children_state"`
}

// HierarchyPage is one page of a space hierarchy.
type HierarchyPage struct {
	Rooms     []HierarchyRoom
	NextBatch string
}

// Hierarchy walks a space tree depth-first from roomID, over the
// m.space.child events of its rooms. A room is listed when userID may see
// its summary (G-25: joined or invited, public, knockable, restricted to a
// room they are in, or world_readable); rooms they may not see are
// skipped with everything below them. Rooms this server does not know are
// asked of the servers their parent's m.space.child names in via (the
// root, of the server its ID names), through SetRemoteSpaces, within a
// bound of requests per page; rooms no server answers for are left out.
// Pages are offsets into the walk, which is recomputed for each page.
func (s *Service) Hierarchy(ctx context.Context, userID, roomID string, q HierarchyQuery) (HierarchyPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = HierarchyDefaultLimit
	}
	limit = min(limit, HierarchyMaxLimit)
	maxDepth := min(q.MaxDepth, HierarchyMaxDepth)
	if maxDepth < 0 {
		maxDepth = HierarchyMaxDepth
	}
	offset := 0
	if q.From != "" {
		var depth int
		var suggested bool
		if n, err := fmt.Sscanf(q.From, "h%d_%d_%t", &offset, &depth, &suggested); n != 3 || err != nil || offset < 0 {
			return HierarchyPage{}, refusal.New(refusal.InvalidParam, "from is not a token this server gave out")
		}
		if depth != maxDepth || suggested != q.SuggestedOnly {
			return HierarchyPage{}, refusal.New(refusal.InvalidParam, "suggested_only and max_depth cannot change on paginated requests")
		}
	}
	walk := s.newRemoteWalk(userID, q.SuggestedOnly)
	rootVia := []string{}
	if _, server, ok := strings.Cut(roomID, ":"); ok {
		rootVia = append(rootVia, server)
	}
	if _, _, found, err := s.hierarchyNode(ctx, walk, userID, roomID, rootVia, q.SuggestedOnly, maxDepth > 0); err != nil {
		return HierarchyPage{}, err
	} else if !found {
		return HierarchyPage{}, refusal.New(refusal.Forbidden, "you may not view the room %s: it does not exist, or you are not in it and it is neither public nor world-readable", roomID)
	}
	type entry struct {
		roomID string
		depth  int
		via    []string
	}
	stack := []entry{{roomID, 0, rootVia}}
	seen := map[string]bool{}
	page := HierarchyPage{Rooms: []HierarchyRoom{}}
	index := 0
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[e.roomID] {
			continue
		}
		seen[e.roomID] = true
		room, children, found, err := s.hierarchyNode(ctx, walk, userID, e.roomID, e.via, q.SuggestedOnly, e.depth < maxDepth)
		if err != nil {
			return HierarchyPage{}, err
		}
		if !found {
			continue
		}
		if index >= offset+limit {
			page.NextBatch = fmt.Sprintf("h%d_%d_%t", index, maxDepth, q.SuggestedOnly)
			break
		}
		if index >= offset {
			page.Rooms = append(page.Rooms, room)
		}
		index++
		if e.depth < maxDepth {
			// Reversed, so the first child is walked next.
			for i := len(children) - 1; i >= 0; i-- {
				if c := children[i]; !seen[c.roomID] {
					stack = append(stack, entry{c.roomID, e.depth + 1, c.via})
				}
			}
		}
	}
	return page, nil
}

// childRef is a space's child: its room ID and the servers to ask for it.
type childRef struct {
	roomID string
	via    []string
}

// hierarchyNode is one room of a walk as userID may see it, with its
// children in order (wantChildren false: a remote room's may be left
// out); found is false when the room is unknown everywhere asked or
// userID may not see it.
func (s *Service) hierarchyNode(ctx context.Context, walk *remoteWalk, userID, roomID string, via []string, suggestedOnly, wantChildren bool) (HierarchyRoom, []childRef, bool, error) {
	sum, err := s.Summary(ctx, userID, roomID)
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind == refusal.NotFound {
		if _, known := s.Current(ctx, roomID); known == nil {
			// Known here and not visible to userID.
			return HierarchyRoom{}, nil, false, nil
		}
		return walk.room(ctx, roomID, via, wantChildren)
	}
	if err != nil {
		return HierarchyRoom{}, nil, false, err
	}
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return HierarchyRoom{}, nil, false, err
	}
	children := spaceChildren(snap, suggestedOnly)
	sum.Membership = ""
	refs := make([]childRef, 0, len(children))
	for _, c := range children {
		refs = append(refs, childRef{roomID: *c.Event.StateKey(), via: viaOf(c.Event.Content())})
	}
	return HierarchyRoom{RoomSummary: sum, ChildrenState: strippedChildren(children)}, refs, true, nil
}

// spaceChildren are a space's valid m.space.child events (a room ID as
// state key, a non-empty via of strings), suggested ones only if asked,
// in the spec's order: by a valid order string, those without one after,
// then by the event's timestamp and the room ID. Rooms that are not
// spaces have no children.
func spaceChildren(snap RoomSnapshot, suggestedOnly bool) []StoredEvent {
	if roomSummaryOf(snap).RoomType != "m.space" {
		return nil
	}
	var children []StoredEvent
	for k, se := range snap.State {
		if k.Type == "m.space.child" {
			children = append(children, se)
		}
	}
	return orderedSpaceChildren(children, func(se StoredEvent) (string, json.RawMessage, int64) {
		return *se.Event.StateKey(), se.Event.Content(), se.Event.OriginServerTS()
	}, suggestedOnly)
}

// orderedSpaceChildren keeps the valid m.space.child entries among items
// (a room ID for state key, a non-empty via of strings), the suggested
// ones only if asked, in the spec's order: those with a valid order
// first, by it, then by origin_server_ts, then by room ID. fields reads
// an item's state key, content and origin_server_ts; items are local
// state events or another server's stripped children.
func orderedSpaceChildren[T any](items []T, fields func(T) (string, json.RawMessage, int64), suggestedOnly bool) []T {
	type child struct {
		item     T
		stateKey string
		ts       int64
		order    *string
	}
	var kids []child
	for _, it := range items {
		stateKey, content, ts := fields(it)
		if !matrixevents.ValidRoomID(stateKey) || len(viaOf(content)) == 0 {
			continue
		}
		var c struct {
			Order     json.RawMessage `json:"order"`
			Suggested bool            `json:"suggested"`
		}
		if json.Unmarshal(content, &c) != nil || (suggestedOnly && !c.Suggested) {
			continue
		}
		kid := child{item: it, stateKey: stateKey, ts: ts}
		var order string
		if json.Unmarshal(c.Order, &order) == nil && validOrder(order) {
			kid.order = &order
		}
		kids = append(kids, kid)
	}
	slices.SortFunc(kids, func(a, b child) int {
		switch {
		case a.order != nil && b.order == nil:
			return -1
		case a.order == nil && b.order != nil:
			return 1
		case a.order != nil && *a.order != *b.order:
			return cmp.Compare(*a.order, *b.order)
		}
		if d := cmp.Compare(a.ts, b.ts); d != 0 {
			return d
		}
		return cmp.Compare(a.stateKey, b.stateKey)
	})
	out := make([]T, len(kids))
	for i, k := range kids {
		out[i] = k.item
	}
	return out
}

// validOrder: at most 50 printable ASCII characters.
func validOrder(s string) bool {
	if len(s) > 50 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
