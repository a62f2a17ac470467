package rooms

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// Stream tokens are stream positions: "t123" (sync's prev_batch,
// /relations); sync's "s123..." tokens are accepted too. Events at or
// before position P are "before" token P. /messages and /context hand
// out topological tokens instead (topo.go).
func FormatToken(pos int64) string { return "t" + strconv.FormatInt(pos, 10) }

// ParseToken reads a pagination or sync token.
func ParseToken(tok string) (int64, bool) {
	if len(tok) < 2 || (tok[0] != 't' && tok[0] != 's') {
		return 0, false
	}
	digits := tok[1:]
	if i := strings.IndexAny(digits, "_."); i >= 0 {
		digits = digits[:i]
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil && n >= 0
}

// reader is what a viewer may read of a room.
type reader struct {
	snap          RoomSnapshot
	vh            viewerHistory
	worldReadable bool
	// forgotten is set for a former member who forgot the room.
	forgotten bool
}

func (r reader) joined() bool { return r.snap.Membership(r.vh.userID) == "join" }

// lastLeavePos is the position of the viewer's latest departure.
func (r reader) lastLeavePos() int64 {
	for i := len(r.vh.changes) - 1; i >= 0; i-- {
		c := r.vh.changes[i]
		if c.Membership == "leave" || c.Membership == "ban" {
			return c.StreamPos
		}
	}
	return 0
}

func (s *Service) openReader(ctx context.Context, userID, roomID string) (reader, error) {
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		if e, ok := err.(*refusal.Error); ok && e.Kind == refusal.NotFound {
			return reader{}, refusal.New(refusal.Forbidden, "you cannot read this room: it does not exist or you are not a member")
		}
		return reader{}, err
	}
	vh, err := s.loadViewer(ctx, roomID, userID)
	if err != nil {
		return reader{}, err
	}
	r := reader{snap: snap, vh: vh}
	r.worldReadable = r.historyNow() == "world_readable"
	if !r.worldReadable && !r.joined() && vh.current() == "leave" {
		if r.forgotten, err = s.store.Forgot(ctx, userID, roomID); err != nil {
			return reader{}, err
		}
	}
	return r, nil
}

// mayRead is the gate in front of the per-event filter: members, former
// members and, for world_readable rooms, anyone (G-31, G-32). A banned
// user is no former member here, as in Synapse: the ban shuts the room;
// nor is one who forgot the room, whose history is then gone for them
// (spec: /forget; Complement's "Forgotten room messages cannot be
// paginated").
func (r reader) mayRead() bool {
	if r.worldReadable || r.joined() {
		return true
	}
	if r.vh.current() == "ban" || r.forgotten {
		return false
	}
	if r.vh.everJoined() {
		return true
	}
	return r.vh.current() == "invite" && r.historyNow() == "invited"
}

func (r reader) historyNow() string { return historyVisibility(r.snap.State) }

func forbiddenRead() error {
	return refusal.New(refusal.Forbidden, "you cannot read this room: join it first (its history is not world-readable)")
}

// State is the state a viewer may see: current state for members and
// world_readable rooms, the state at departure for former members.
func (s *Service) State(ctx context.Context, userID, roomID string) ([]StoredEvent, error) {
	r, err := s.openReader(ctx, userID, roomID)
	if err != nil {
		return nil, err
	}
	return s.stateFor(ctx, r, roomID)
}

// stateFor is State for an open reader.
func (s *Service) stateFor(ctx context.Context, r reader, roomID string) ([]StoredEvent, error) {
	switch {
	case r.joined() || r.worldReadable:
		return sortedState(r.snap), nil
	case r.mayRead():
		if pos := r.lastLeavePos(); pos > 0 {
			return s.store.StateAt(ctx, roomID, pos)
		}
		return sortedState(r.snap), nil
	}
	return nil, forbiddenRead()
}

func sortedState(snap RoomSnapshot) []StoredEvent {
	out := make([]StoredEvent, 0, len(snap.State))
	for _, se := range snap.State {
		out = append(out, se)
	}
	slices.SortFunc(out, func(a, b StoredEvent) int { return int(a.StreamPos - b.StreamPos) })
	return out
}

// StateEvent is one piece of the state State would return.
func (s *Service) StateEvent(ctx context.Context, userID, roomID, typ, stateKey string) (StoredEvent, error) {
	r, err := s.openReader(ctx, userID, roomID)
	if err != nil {
		return StoredEvent{}, err
	}
	if r.joined() || r.worldReadable {
		// Current state, as State would give: no need to list all of it.
		if se, ok := r.snap.State[matrixevents.StateTuple{Type: typ, StateKey: stateKey}]; ok {
			return se, nil
		}
		return StoredEvent{}, refusal.New(refusal.NotFound, "the room has no %s state with key %q", typ, stateKey)
	}
	state, err := s.stateFor(ctx, r, roomID)
	if err != nil {
		return StoredEvent{}, err
	}
	for _, se := range state {
		if se.Event.Type() == typ && se.Event.StateKey() != nil && *se.Event.StateKey() == stateKey {
			return se, nil
		}
	}
	return StoredEvent{}, refusal.New(refusal.NotFound, "the room has no %s state with key %q", typ, stateKey)
}

// Event returns one event if the viewer may see it (404 otherwise).
func (s *Service) Event(ctx context.Context, userID, roomID, eventID string) (StoredEvent, error) {
	r, err := s.openReader(ctx, userID, roomID)
	if err != nil {
		return StoredEvent{}, err
	}
	if !r.mayRead() {
		return StoredEvent{}, forbiddenRead()
	}
	return s.visibleEvent(ctx, r, roomID, eventID)
}

// MembersQuery filters GET /members.
type MembersQuery struct {
	At            *int64
	Membership    string
	NotMembership string
}

// Members lists member events per the viewer's view of the state.
func (s *Service) Members(ctx context.Context, userID, roomID string, q MembersQuery) ([]StoredEvent, error) {
	r, err := s.openReader(ctx, userID, roomID)
	if err != nil {
		return nil, err
	}
	var state []StoredEvent
	switch {
	case !r.mayRead():
		return nil, forbiddenRead()
	case q.At != nil:
		at := *q.At
		if !r.joined() && !r.worldReadable {
			if lp := r.lastLeavePos(); lp > 0 && lp < at {
				at = lp
			}
		}
		state, err = s.stateAtToken(ctx, roomID, at)
	default:
		state, err = s.stateFor(ctx, r, roomID)
	}
	if err != nil {
		return nil, err
	}
	var out []StoredEvent
	for _, se := range state {
		if se.Event.Type() != "m.room.member" {
			continue
		}
		m := se.Event.Membership()
		if q.Membership != "" && m != q.Membership {
			continue
		}
		if q.NotMembership != "" && m == q.NotMembership {
			continue
		}
		out = append(out, se)
	}
	return out, nil
}

// stateAtToken is the state after the room's last event at or before
// stream position pos; a token from before the room's first event finds
// none (404), as in Synapse.
func (s *Service) stateAtToken(ctx context.Context, roomID string, pos int64) ([]StoredEvent, error) {
	group, err := s.store.StateGroupAt(ctx, roomID, pos)
	if err != nil {
		return nil, err
	}
	if group == 0 {
		return nil, refusal.New(refusal.NotFound, "the room has no event at or before this token")
	}
	return s.store.StateGroup(ctx, group)
}

// JoinedMember is an entry of /joined_members.
type JoinedMember struct {
	DisplayName *string `json:"display_name"`
	AvatarURL   *string `json:"avatar_url"`
}

// JoinedMembers is for members only.
func (s *Service) JoinedMembers(ctx context.Context, userID, roomID string) (map[string]JoinedMember, error) {
	r, err := s.openReader(ctx, userID, roomID)
	if err != nil {
		return nil, err
	}
	if !r.joined() && !r.worldReadable {
		return nil, refusal.New(refusal.Forbidden, "you are not a member of this room")
	}
	out := map[string]JoinedMember{}
	for k, se := range r.snap.State {
		if k.Type != "m.room.member" || se.Event.Membership() != "join" {
			continue
		}
		var c struct {
			DisplayName *string `json:"displayname"`
			AvatarURL   *string `json:"avatar_url"`
		}
		_ = json.Unmarshal(se.Event.Content(), &c)
		out[k.StateKey] = JoinedMember{DisplayName: c.DisplayName, AvatarURL: c.AvatarURL}
	}
	return out, nil
}

// MessagesQuery is GET /messages, parsed.
type MessagesQuery struct {
	From, To       *PageToken
	Backwards      bool
	Limit          int
	Filter         EventFilter
	LazyLoadMember bool
}

// Page is a /messages or /context answer before formatting. Start and
// End are topological positions.
type Page struct {
	Events     []StoredEvent
	Start, End TopoPos
	HasEnd     bool
	State      []StoredEvent
}

// Messages paginates a room's timeline as the viewer may see it, in
// topological order.
func (s *Service) Messages(ctx context.Context, userID, roomID string, q MessagesQuery) (Page, error) {
	r, err := s.openReader(ctx, userID, roomID)
	if err != nil {
		return Page{}, err
	}
	if !r.mayRead() {
		return Page{}, forbiddenRead()
	}
	page, err := s.paginate(ctx, r, roomID, q)
	if err != nil || !s.backfillForPage(ctx, roomID, q, page) {
		return page, err
	}
	return s.paginate(ctx, r, roomID, q)
}

// topoPosOf turns a token into a topological position; a stream token
// (from /sync) means just after the last event at or before it.
func (s *Service) topoPosOf(ctx context.Context, roomID string, tok *PageToken, unset TopoPos) (TopoPos, error) {
	switch {
	case tok == nil:
		return unset, nil
	case tok.IsTopo:
		return tok.Topo, nil
	}
	return s.store.TopoPosAt(ctx, roomID, tok.Stream)
}

func (s *Service) paginate(ctx context.Context, r reader, roomID string, q MessagesQuery) (Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 10
	}
	if limit > 1000 {
		limit = 1000
	}
	fromUnset, toUnset := TopoPos{}, topoEnd
	if q.Backwards {
		fromUnset, toUnset = topoEnd, TopoPos{}
	}
	from, err := s.topoPosOf(ctx, roomID, q.From, fromUnset)
	if err != nil {
		return Page{}, err
	}
	to, err := s.topoPosOf(ctx, roomID, q.To, toUnset)
	if err != nil {
		return Page{}, err
	}
	page := Page{Start: from}
	cursor := from
	// Visibility can hide events; fetch in rounds until the page is full.
	for round := 0; round < 20 && len(page.Events) < limit; round++ {
		batch, err := s.store.TopoEvents(ctx, roomID, cursor, to, q.Backwards, limit, q.Filter)
		if err != nil {
			return Page{}, err
		}
		if len(batch) == 0 {
			break
		}
		for _, se := range r.vh.filterVisible(batch) {
			if len(page.Events) < limit {
				page.Events = append(page.Events, se)
			}
		}
		last := topoOf(batch[len(batch)-1])
		if len(page.Events) == limit {
			// Resume right after the last event returned.
			last = topoOf(page.Events[len(page.Events)-1])
		}
		if q.Backwards {
			cursor = last.before()
		} else {
			cursor = last
		}
		page.End, page.HasEnd = cursor, true
		if len(batch) < limit {
			if len(page.Events) < limit {
				// Reached the end of the room.
				page.HasEnd = len(page.Events) > 0
			}
			break
		}
	}
	if q.Backwards && q.From == nil {
		page.Start = TopoPos{}
		if len(page.Events) > 0 {
			page.Start = topoOf(page.Events[0])
		}
	}
	if q.LazyLoadMember {
		senders := map[string]bool{}
		for _, se := range page.Events {
			senders[se.Event.Sender()] = true
		}
		for k, se := range r.snap.State {
			if k.Type == "m.room.member" && senders[k.StateKey] {
				page.State = append(page.State, se)
			}
		}
	}
	return page, nil
}

// Context returns an event with events around it, in topological order,
// and the state after it.
func (s *Service) Context(ctx context.Context, userID, roomID, eventID string, limit int, filter EventFilter) (StoredEvent, Page, Page, []StoredEvent, error) {
	r, err := s.openReader(ctx, userID, roomID)
	if err != nil {
		return StoredEvent{}, Page{}, Page{}, nil, err
	}
	if !r.mayRead() {
		return StoredEvent{}, Page{}, Page{}, nil, forbiddenRead()
	}
	se, err := s.visibleEvent(ctx, r, roomID, eventID)
	if err != nil {
		return StoredEvent{}, Page{}, Page{}, nil, err
	}
	if limit < 0 {
		limit = 0
	}
	bp, ap, err := s.around(ctx, r, roomID, se, limit/2, limit-limit/2, filter)
	if err != nil {
		return StoredEvent{}, Page{}, Page{}, nil, err
	}
	state, err := s.store.StateGroup(ctx, se.StateGroup)
	if err != nil {
		return StoredEvent{}, Page{}, Page{}, nil, err
	}
	return se, bp, ap, state, nil
}

// around pages before and after events either side of se, as the viewer
// may see them (/context, and the context of search results); the End of
// each page is the token to page on from, backwards and forwards.
func (s *Service) around(ctx context.Context, r reader, roomID string, se StoredEvent, before, after int, filter EventFilter) (Page, Page, error) {
	at := topoOf(se)
	from := at.before()
	bp, err := s.paginate(ctx, r, roomID, MessagesQuery{From: &PageToken{Topo: from, IsTopo: true}, Backwards: true, Limit: max(before, 1), Filter: filter})
	if err != nil {
		return Page{}, Page{}, err
	}
	if before == 0 {
		bp.Events = nil
		bp.End = from
	}
	ap, err := s.paginate(ctx, r, roomID, MessagesQuery{From: &PageToken{Topo: at, IsTopo: true}, Limit: max(after, 1), Filter: filter})
	if err != nil {
		return Page{}, Page{}, err
	}
	if after == 0 {
		ap.Events = nil
		ap.End = at
	}
	if !bp.HasEnd {
		bp.End = TopoPos{}
	}
	if !ap.HasEnd {
		ap.End = at
		if n := len(ap.Events); n > 0 {
			ap.End = topoOf(ap.Events[n-1])
		}
	}
	return bp, ap, nil
}

// ClientEvents formats events for clients, adding unsigned data: age,
// redacted_because, replaces_state and prev_content, and, when ctx names
// a viewer (WithViewer), bundled aggregations (m.relations) and the
// transaction ID of each event the viewer's device sent. An erased user's
// event is redacted unless the viewer was joined when it was sent
// (erasure.go). Each event also carries the viewer's membership at it
// (viewermembership.go).
func (s *Service) ClientEvents(ctx context.Context, events []StoredEvent, withRoomID bool) []matrixevents.ClientEvent {
	out := make([]matrixevents.ClientEvent, 0, len(events))
	now := s.now().UnixMilli()
	histories := s.viewerHistories(ctx, events)
	events = s.withErasure(ctx, events, histories)
	bundles := s.bundledAggregations(ctx, events, withRoomID)
	txns := s.viewerTxnIDs(ctx, events)
	// The redactions and replaced state the unsigned data quotes, in one
	// query; one that cannot be read is left out, as a missing one is.
	var refs []string
	for _, se := range events {
		if se.RedactedBy != "" {
			refs = append(refs, se.RedactedBy)
		}
		if se.ReplacesState != "" {
			refs = append(refs, se.ReplacesState)
		}
	}
	var quoted map[string]StoredEvent
	if len(refs) > 0 {
		quoted, _ = s.store.GetEvents(ctx, refs)
	}
	for _, se := range events {
		unsigned := map[string]any{"age": now - se.Event.OriginServerTS()}
		if agg, ok := bundles[se.Event.EventID()]; ok {
			unsigned["m.relations"] = agg
		}
		if txn, ok := txns[se.Event.EventID()]; ok {
			unsigned["transaction_id"] = txn
		}
		if vh, ok := histories[se.Event.RoomID()]; ok {
			unsigned["membership"] = vh.membershipAt(se)
		}
		if se.RedactedBy != "" {
			// The ID alone too, as Synapse gives it: clients and tools
			// read either.
			unsigned["redacted_by"] = se.RedactedBy
			if red, ok := quoted[se.RedactedBy]; ok {
				unsigned["redacted_because"] = matrixevents.ToClientEvent(red.Event, nil)
			}
		}
		if se.ReplacesState != "" {
			unsigned["replaces_state"] = se.ReplacesState
			if prev, ok := quoted[se.ReplacesState]; ok {
				unsigned["prev_content"] = prev.Event.Content()
				unsigned["prev_sender"] = prev.Event.Sender()
			}
		}
		raw, _ := json.Marshal(unsigned)
		ce := matrixevents.ToClientEvent(se.Event, raw)
		if !withRoomID {
			ce.RoomID = ""
		}
		out = append(out, ce)
	}
	return out
}

// viewerTxnIDs maps the events of events that the viewer's device sent
// to their transaction IDs; one that cannot be read is left out, as the
// spec lets a server omit it.
func (s *Service) viewerTxnIDs(ctx context.Context, events []StoredEvent) map[string]string {
	v, ok := viewerDeviceFrom(ctx)
	if !ok {
		return nil
	}
	var own []string
	for _, se := range events {
		if se.Event.Sender() == v.userID {
			own = append(own, se.Event.EventID())
		}
	}
	if len(own) == 0 {
		return nil
	}
	txns, err := s.store.TxnIDs(ctx, v.userID, v.deviceID, own)
	if err != nil {
		return nil
	}
	return txns
}

// FilterVisible keeps the events of one room that userID may see.
func (s *Service) FilterVisible(ctx context.Context, userID, roomID string, events []StoredEvent) ([]StoredEvent, error) {
	if len(events) == 0 {
		return events, nil
	}
	vh, err := s.loadViewer(ctx, roomID, userID)
	if err != nil {
		return nil, err
	}
	visible := vh.filterVisible(events)
	if len(visible) == len(events) {
		return visible, nil
	}
	// State that is still current is shown to those who may read the
	// room's current state — members, and anyone while the room is
	// world_readable (a peeker) — even if it was set while they could not
	// see the room: they can read it from /state anyway, and clients need
	// it in order (e.g. a join seen on rejoin, a peek's m.room.create).
	e, err := s.lockRoomRead(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if vh.current() != "join" && historyVisibility(e.state) != "world_readable" {
		e.mu.Unlock()
		return visible, nil
	}
	current := map[string]bool{}
	for _, se := range events {
		if se.Event.IsState() {
			if cur, ok := e.state[tupleOf(se.Event)]; ok && cur.Event.EventID() == se.Event.EventID() {
				current[se.Event.EventID()] = true
			}
		}
	}
	e.mu.Unlock()
	out := events[:0:0]
	for _, se := range events {
		if current[se.Event.EventID()] || CanSee(vh.visibilityOf(se)) {
			out = append(out, se)
		}
	}
	return out, nil
}
