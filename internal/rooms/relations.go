package rooms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"

	"foyer/internal/refusal"
)

// Relation is what an event's content["m.relates_to"] says when it has a
// rel_type: the parent event and the kind of relationship. Rich replies
// (m.in_reply_to without rel_type) are not relations to the server.
type Relation struct {
	RelType string
	EventID string
}

// RelationOf reads content["m.relates_to"]. It reports false when there
// is none or it does not match the schema (a string rel_type and an event
// ID), since the spec has invalid relationships ignored.
func RelationOf(content json.RawMessage) (Relation, bool) {
	if !bytes.Contains(content, []byte(`"m.relates_to"`)) {
		return Relation{}, false
	}
	var c struct {
		RelatesTo map[string]json.RawMessage `json:"m.relates_to"`
	}
	if json.Unmarshal(content, &c) != nil || c.RelatesTo == nil {
		return Relation{}, false
	}
	var rel Relation
	if json.Unmarshal(c.RelatesTo["rel_type"], &rel.RelType) != nil || json.Unmarshal(c.RelatesTo["event_id"], &rel.EventID) != nil {
		return Relation{}, false
	}
	ok := func(s string) bool { return s != "" && len(s) <= 255 && !strings.ContainsRune(s, 0) }
	if !ok(rel.RelType) || !ok(rel.EventID) || !strings.HasPrefix(rel.EventID, "$") {
		return Relation{}, false
	}
	return rel, true
}

// RelationRow is one stored relation with what visibility checks and
// aggregations need to know of the child event, short of its JSON.
type RelationRow struct {
	ParentID, RelType string
	ChildID           string
	ChildType         string
	ChildIsState      bool
	Sender            string
	StreamPos         int64
	OriginServerTS    int64
	HistoryVisibility string
}

// RelationQuery selects the events relating to one parent, like Events:
// from < pos <= to forwards, from > pos >= to backwards.
type RelationQuery struct {
	RoomID, ParentID string
	// RelType and EventType, when set, must match at every hop.
	RelType, EventType string
	// Depth is how many relationship hops to follow: 1 for direct
	// children only.
	Depth     int
	From, To  int64
	Backwards bool
	Limit     int
}

// ThreadQuery selects thread roots by their latest activity.
type ThreadQuery struct {
	RoomID string
	// Before keeps threads whose latest event is at or before it.
	Before int64
	// Participant, when set, keeps threads that user started or posted in.
	Participant string
	Limit       int
}

// ThreadRoot is a thread's root and the position of its latest event.
type ThreadRoot struct {
	Root      StoredEvent
	LatestPos int64
}

// RelationStore is the index of relationships between events, filled when
// events are stored (Append). Redacted children drop out of every answer:
// a redaction breaks the relationship.
type RelationStore interface {
	// RelatedEvents lists the events relating to q.ParentID, ordered by
	// position (newest first when backwards), at most q.Limit.
	RelatedEvents(ctx context.Context, q RelationQuery) ([]StoredEvent, error)
	// RelationRows lists the relations of the given types (all when
	// relTypes is empty) pointing at any of parentIDs, oldest first.
	RelationRows(ctx context.Context, roomID string, parentIDs, relTypes []string) ([]RelationRow, error)
	// ThreadRoots lists thread roots, latest activity first.
	ThreadRoots(ctx context.Context, q ThreadQuery) ([]ThreadRoot, error)
	// EventsByTimestamp lists a room's events ordered by
	// (origin_server_ts, stream_pos), strictly after (ts, pos) forwards or
	// strictly before it backwards.
	EventsByTimestamp(ctx context.Context, roomID string, ts, pos int64, backwards bool, limit int) ([]StoredEvent, error)
}

// viewerKey carries whose view ClientEvents bundles aggregations for.
type viewerKey struct{}

// bundleDepthKey limits how deep aggregations nest (a thread's latest
// event carries its own edit, and no more).
type bundleDepthKey struct{}

// viewer is a user and the device the events are served to.
type viewer struct{ userID, deviceID string }

// WithViewer tells ClientEvents which user and device the events are
// for, so it can add the bundled aggregations (unsigned.m.relations) that
// user may see and, on the events that device sent,
// unsigned.transaction_id. Without a viewer neither is added.
func WithViewer(ctx context.Context, userID, deviceID string) context.Context {
	return context.WithValue(ctx, viewerKey{}, viewer{userID: userID, deviceID: deviceID})
}

func viewerFrom(ctx context.Context) (string, bool) {
	v, ok := ctx.Value(viewerKey{}).(viewer)
	return v.userID, ok
}

func viewerDeviceFrom(ctx context.Context) (viewer, bool) {
	v, ok := ctx.Value(viewerKey{}).(viewer)
	return v, ok && v.deviceID != ""
}

func bundleDepth(ctx context.Context) int {
	d, _ := ctx.Value(bundleDepthKey{}).(int)
	return d
}

// canSeeRow is visibilityOf for a relation's child, which is never the
// viewer's own member event or a history-visibility change in practice;
// if it were, this errs on the side of hiding it.
func (vh viewerHistory) canSeeRow(row RelationRow) bool {
	v := Visibility{
		HistoryBefore:    normaliseHistory(row.HistoryVisibility),
		MembershipBefore: vh.membershipBefore(row.StreamPos),
		JoinedLater:      vh.joinedAfter(row.StreamPos),
	}
	v.HistoryAfter, v.MembershipAfter = v.HistoryBefore, v.MembershipBefore
	return CanSee(v)
}

// relationDepth is how far recurse=true follows relationships; the spec
// asks for at least 3.
const relationDepth = 3

// RelationsQuery is GET /relations, parsed.
type RelationsQuery struct {
	RelType, EventType string
	// From and To are pagination tokens' positions.
	From, To  *int64
	Backwards bool
	Limit     int
	Recurse   bool
}

// RelationsPage is one page of child events.
type RelationsPage struct {
	Events []StoredEvent
	// Next is the position for next_batch; nil when there is no more.
	Next *int64
	// Depth is how many hops were followed.
	Depth int
}

// Relations pages through the events relating to eventID that userID may
// see. A room the caller may not read is refused (403); a parent event
// they may not see is reported missing (404), as the spec says.
func (s *Service) Relations(ctx context.Context, userID, roomID, eventID string, q RelationsQuery) (RelationsPage, error) {
	r, err := s.openReader(ctx, userID, roomID)
	if err != nil {
		return RelationsPage{}, err
	}
	if !r.mayRead() {
		return RelationsPage{}, forbiddenRead()
	}
	if _, err := s.visibleEvent(ctx, r, roomID, eventID); err != nil {
		return RelationsPage{}, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	page := RelationsPage{Depth: 1}
	if q.Recurse {
		page.Depth = relationDepth
	}
	// Positions as /messages reads them: backwards from token P returns
	// events at or before P, forwards events after P.
	var cursor int64
	switch {
	case q.From != nil:
		cursor = *q.From
	case q.Backwards:
		cursor = math.MaxInt64 - 1
	}
	cursor = min(cursor, math.MaxInt64-1)
	for round := 0; round < 20 && len(page.Events) < limit; round++ {
		rq := RelationQuery{RoomID: roomID, ParentID: eventID, RelType: q.RelType, EventType: q.EventType,
			Depth: page.Depth, Backwards: q.Backwards, Limit: limit}
		if q.Backwards {
			rq.From, rq.To = cursor+1, 0
			if q.To != nil {
				rq.To = *q.To + 1
			}
		} else {
			rq.From, rq.To = cursor, math.MaxInt64
			if q.To != nil {
				rq.To = *q.To
			}
		}
		batch, err := s.store.RelatedEvents(ctx, rq)
		if err != nil {
			return RelationsPage{}, err
		}
		if len(batch) == 0 {
			page.Next = nil
			break
		}
		for _, se := range r.vh.filterVisible(batch) {
			if len(page.Events) < limit {
				page.Events = append(page.Events, se)
			}
		}
		last := batch[len(batch)-1].StreamPos
		if len(page.Events) == limit {
			last = page.Events[limit-1].StreamPos
		}
		if q.Backwards {
			cursor = last - 1
		} else {
			cursor = last
		}
		next := cursor
		page.Next = &next
		if len(batch) < limit && len(page.Events) < limit {
			// The relations ran out before the page filled.
			page.Next = nil
			break
		}
	}
	return page, nil
}

// visibleEvent is an event of the room the reader may see, or a 404.
func (s *Service) visibleEvent(ctx context.Context, r reader, roomID, eventID string) (StoredEvent, error) {
	se, err := s.store.GetEvent(ctx, eventID)
	if errors.Is(err, ErrNotFound) || (err == nil && se.Event.RoomID() != roomID) {
		return StoredEvent{}, refusal.New(refusal.NotFound, "event not found")
	}
	if err != nil {
		return StoredEvent{}, err
	}
	if !CanSee(r.vh.visibilityOf(se)) {
		return StoredEvent{}, refusal.New(refusal.NotFound, "event not found")
	}
	return se, nil
}

// bundledAggregations computes unsigned.m.relations for events as the
// viewer in ctx may see them: m.thread (threads.go), m.replace (the
// latest valid edit) and m.reference. State events get none, as the spec
// says. Without a viewer in ctx there are none.
func (s *Service) bundledAggregations(ctx context.Context, events []StoredEvent, withRoomID bool) map[string]map[string]any {
	viewer, ok := viewerFrom(ctx)
	depth := bundleDepth(ctx)
	if !ok || depth > 1 || len(events) == 0 {
		return nil
	}
	relTypes := []string{"m.replace", "m.reference"}
	if depth == 0 {
		relTypes = append(relTypes, "m.thread")
	}
	byRoom := map[string][]StoredEvent{}
	var order []string
	for _, se := range events {
		if se.Event.IsState() {
			continue
		}
		id := se.Event.RoomID()
		if _, seen := byRoom[id]; !seen {
			order = append(order, id)
		}
		byRoom[id] = append(byRoom[id], se)
	}
	out := map[string]map[string]any{}
	for _, roomID := range order {
		evs := byRoom[roomID]
		ids := make([]string, len(evs))
		for i, se := range evs {
			ids[i] = se.Event.EventID()
		}
		rows, err := s.store.RelationRows(ctx, roomID, ids, relTypes)
		if err != nil {
			s.log.ErrorContext(ctx, "reading relations for bundled aggregations", "room_id", roomID, "err", err)
			continue
		}
		if len(rows) == 0 {
			continue
		}
		vh, err := s.loadViewer(ctx, roomID, viewer)
		if err != nil {
			s.log.ErrorContext(ctx, "reading membership for bundled aggregations", "room_id", roomID, "err", err)
			continue
		}
		children := map[string]map[string][]RelationRow{}
		for _, row := range rows {
			if !vh.canSeeRow(row) {
				continue
			}
			if children[row.ParentID] == nil {
				children[row.ParentID] = map[string][]RelationRow{}
			}
			children[row.ParentID][row.RelType] = append(children[row.ParentID][row.RelType], row)
		}
		for _, se := range evs {
			kids := children[se.Event.EventID()]
			if len(kids) == 0 {
				continue
			}
			agg := map[string]any{}
			if th, ok := s.threadAggregation(ctx, viewer, se, kids["m.thread"], withRoomID); ok {
				agg["m.thread"] = th
			}
			if ed, ok := s.latestEdit(ctx, se, kids["m.replace"], withRoomID); ok {
				agg["m.replace"] = ed
			}
			if refs := kids["m.reference"]; len(refs) > 0 {
				chunk := make([]map[string]string, len(refs))
				for i, row := range refs {
					chunk[i] = map[string]string{"event_id": row.ChildID}
				}
				agg["m.reference"] = map[string]any{"chunk": chunk}
			}
			if len(agg) > 0 {
				out[se.Event.EventID()] = agg
			}
		}
	}
	return out
}

// latestEdit is the m.replace aggregation: the most recent valid
// replacement (by origin_server_ts, then event ID), in full. Redacted
// originals and originals that are themselves edits get none.
func (s *Service) latestEdit(ctx context.Context, original StoredEvent, edits []RelationRow, withRoomID bool) (any, bool) {
	if len(edits) == 0 || original.RedactedBy != "" {
		return nil, false
	}
	if rel, ok := RelationOf(original.Event.Content()); ok && rel.RelType == "m.replace" {
		return nil, false
	}
	var best *StoredEvent
	for _, row := range edits {
		if row.ChildIsState || row.Sender != original.Event.Sender() || row.ChildType != original.Event.Type() {
			continue
		}
		if best != nil && (row.OriginServerTS < best.Event.OriginServerTS() ||
			(row.OriginServerTS == best.Event.OriginServerTS() && row.ChildID < best.Event.EventID())) {
			continue
		}
		se, err := s.store.GetEvent(ctx, row.ChildID)
		if err != nil || se.RedactedBy != "" || !hasNewContent(se) {
			continue
		}
		best = &se
	}
	if best == nil {
		return nil, false
	}
	return s.ClientEvents(context.WithValue(ctx, bundleDepthKey{}, 2), []StoredEvent{*best}, withRoomID)[0], true
}

// hasNewContent: a replacement carries m.new_content, except encrypted
// ones, whose new content is inside the ciphertext.
func hasNewContent(se StoredEvent) bool {
	if se.Event.Type() == "m.room.encrypted" {
		return true
	}
	var c struct {
		NewContent map[string]json.RawMessage `json:"m.new_content"`
	}
	return json.Unmarshal(se.Event.Content(), &c) == nil && c.NewContent != nil
}
