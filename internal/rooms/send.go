package rooms

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// eventRequest is one event to add to a room.
type eventRequest struct {
	Sender   string
	Type     string
	StateKey *string
	Content  any
	Redacts  string
}

// draft is a room's state while a batch of events is built on top of it.
type draft struct {
	info   RoomInfo
	state  map[matrixevents.StateTuple]StoredEvent
	events []PersistEvent
	// shared is true while state is still the room's current map, which
	// readers may hold: the first state change copies it (a message copies
	// nothing).
	shared bool
}

// setState changes one state entry, copying the shared map first.
func (d *draft) setState(k matrixevents.StateTuple, se StoredEvent) {
	if d.shared {
		d.state, d.shared = maps.Clone(d.state), false
	}
	d.state[k] = se
}

func (d *draft) historyVisibility() string { return historyVisibility(d.state) }

// add builds, signs and authorises one event on top of the draft.
func (s *Service) add(d *draft, req eventRequest) (matrixevents.Event, error) {
	proto := matrixevents.ProtoEvent{
		RoomVersion: d.info.Version,
		RoomID:      d.info.RoomID,
		Sender:      req.Sender,
		Type:        req.Type,
		StateKey:    req.StateKey,
		Content:     req.Content,
		Redacts:     req.Redacts,
		Origin:      s.serverName,
		Timestamp:   s.now(),
	}
	rest := linkToExtremities(&proto, d.info.Extremities)
	needed, err := matrixevents.StateNeededForAuth(proto)
	if err != nil {
		return matrixevents.Event{}, refusal.New(refusal.BadJSON, "%v", err)
	}
	var authEvents []matrixevents.Event
	for _, t := range needed {
		if se, ok := d.state[t]; ok {
			proto.AuthEventIDs = append(proto.AuthEventIDs, se.Event.EventID())
			authEvents = append(authEvents, se.Event)
		}
	}
	ev, err := matrixevents.BuildEvent(proto, s.key)
	if err != nil {
		if matrixevents.IsTooLarge(err) {
			return matrixevents.Event{}, refusal.New(refusal.TooLarge, "the event would be larger than the 65536 bytes an event may have")
		}
		return matrixevents.Event{}, refusal.New(refusal.BadJSON, "cannot build the event: %v", err)
	}
	if len(ev.JSON()) > 65536 {
		return matrixevents.Event{}, refusal.New(refusal.TooLarge, "the event would be larger than the 65536 bytes an event may have")
	}
	if err := checkCreatorsUnranked(d.info.Version, d.state, ev); err != nil {
		return matrixevents.Event{}, err
	}
	if err := matrixevents.Authorise(ev, authEvents); err != nil {
		return matrixevents.Event{}, AsError(err)
	}
	pe := PersistEvent{Event: ev, HistoryVisibility: d.historyVisibility()}
	if s.selfDestruct != nil {
		pe.ExpiresTS = selfDestructAt(ev)
	}
	if prev, ok := d.state[tupleOf(ev)]; ok && ev.IsState() {
		pe.ReplacesState = prev.Event.EventID()
	}
	d.events = append(d.events, pe)
	if ev.IsState() {
		d.setState(tupleOf(ev), StoredEvent{Event: ev})
	}
	d.info.LatestEventID = ev.EventID()
	d.info.Extremities = append([]Extremity{{EventID: ev.EventID(), Depth: ev.Depth()}}, rest...)
	d.info.Depth = max(ev.Depth(), d.info.Depth)
	return ev, nil
}

// maxPrevEvents is how many forward extremities one local event names,
// the common practice the spec describes; the rest stay extremities and
// the next events take them in.
const maxPrevEvents = 20

// linkToExtremities names the deepest of a room's forward extremities as the
// event's prev_events, sets its depth one past the deepest of them, and
// returns the extremities it leaves out.
func linkToExtremities(p *matrixevents.ProtoEvent, xs []Extremity) (rest []Extremity) {
	prev, rest := prevExtremities(xs)
	for _, x := range prev {
		p.PrevEventIDs = append(p.PrevEventIDs, x.EventID)
		p.Depth = max(p.Depth, x.Depth)
	}
	p.Depth++
	return rest
}

// prevExtremities splits a room's forward extremities into the deepest
// maxPrevEvents, which a new event names as its prev_events, and the rest.
func prevExtremities(xs []Extremity) (prev, rest []Extremity) {
	sorted := slices.Clone(xs)
	slices.SortStableFunc(sorted, func(a, b Extremity) int {
		if a.Depth != b.Depth {
			return cmp.Compare(b.Depth, a.Depth)
		}
		return strings.Compare(a.EventID, b.EventID)
	})
	if len(sorted) <= maxPrevEvents {
		return sorted, nil
	}
	return sorted[:maxPrevEvents], sorted[maxPrevEvents:]
}

func newDraft(e *roomEntry) *draft {
	return &draft{info: e.info, state: e.state, shared: true}
}

// commit stores the draft's events atomically with stream positions,
// then updates the cache and tells listeners.
func (s *Service) commit(ctx context.Context, e *roomEntry, d *draft, newRoom bool, txn *Txn, redacts map[string]string) ([]StoredEvent, error) {
	if len(d.events) == 0 {
		return nil, nil
	}
	// Before positions are reserved: it may read the database.
	roomCap, err := s.guestRoomCap(ctx, e.state, d)
	if err != nil {
		return nil, err
	}
	dones := make([]func(), 0, len(d.events))
	defer func() {
		for _, done := range dones {
			done()
		}
	}()
	group := e.info.StateGroup
	if newRoom {
		group = 0
	}
	for i := range d.events {
		pos, done, err := s.positions.Reserve(ctx)
		if err != nil {
			return nil, err
		}
		d.events[i].StreamPos = pos
		dones = append(dones, done)
		// Each state event makes the group of the state after it (the
		// store names it by the event's position).
		d.events[i].StateBefore = group
		if d.events[i].Event.IsState() {
			group = pos
		}
	}
	d.info.StateGroup = group
	a := Append{RoomID: d.info.RoomID, Events: d.events, Txn: txn, Redacts: redacts, RoomCap: roomCap,
		Extremities: d.info.Extremities, StateGroup: group}
	if newRoom {
		info := d.info
		a.NewRoom = &info
	}
	if err := s.store.Append(ctx, a); err != nil {
		if errors.Is(err, ErrRoomCapReached) {
			return nil, roomCapRefusal(roomCap.Max)
		}
		return nil, err
	}
	stored := make([]StoredEvent, len(d.events))
	for i, pe := range d.events {
		stored[i] = StoredEvent{Event: pe.Event, StreamPos: pe.StreamPos, HistoryVisibility: pe.HistoryVisibility, ReplacesState: pe.ReplacesState,
			StateGroup: pe.StateBefore}
		if pe.Event.IsState() {
			stored[i].StateGroup = pe.StreamPos
			d.setState(tupleOf(pe.Event), stored[i])
		}
	}
	// Redacted state must be served (and used for auth) redacted.
	for target := range redacts {
		for k, se := range d.state {
			if se.Event.EventID() == target {
				fresh, err := s.store.GetEvent(ctx, target)
				if err != nil {
					return nil, err
				}
				d.setState(k, fresh)
			}
		}
	}
	before := e.state
	e.info, e.state, e.loaded = d.info, d.state, true
	// Only state changes the member summary; a busy room's messages must
	// not make every syncing member recount it, nor a join all of them.
	var changed []matrixevents.StateTuple
	for _, pe := range d.events {
		if pe.Event.IsState() {
			changed = append(changed, tupleOf(pe.Event))
		}
	}
	switch {
	case len(redacts) > 0:
		e.summary, e.pushRoom = nil, nil
	case len(changed) > 0:
		e.summaryAfterMembers(before, changed)
		e.pushRoom = nil
	}
	// Indexes learn of the events before their positions are visible, so
	// no reader sees a position an index does not yet know.
	s.listenersMu.RLock()
	for _, f := range s.indexers {
		for _, se := range stored {
			f(se)
		}
	}
	s.listenersMu.RUnlock()
	// Release positions before telling listeners, so readers can see them.
	for _, done := range dones {
		done()
	}
	dones = nil
	if s.selfDestruct != nil {
		for _, pe := range d.events {
			if pe.ExpiresTS > 0 {
				s.selfDestruct.scheduled()
				break
			}
		}
	}
	s.announce(e, stored)
	return stored, nil
}

// announce tells the listeners and the federation sender of stored
// events; the caller holds the room's lock. The member summary, cached
// until the state changes, holds the joined servers: a message does not
// walk the room's state to find them.
func (s *Service) announce(e *roomEntry, stored []StoredEvent) {
	s.listenersMu.RLock()
	for _, f := range s.listeners {
		for _, se := range stored {
			f(se)
		}
	}
	s.listenersMu.RUnlock()
	s.tellFederated(stored, e.summaryLocked().JoinedServers)
}

// SendRequest is an event a client asks to send.
type SendRequest struct {
	Sender   string
	DeviceID string
	Type     string
	StateKey *string
	Content  json.RawMessage
	TxnID    string
}

// Send adds a message or state event to a room for a client. With a
// transaction ID it is idempotent per device.
func (s *Service) Send(ctx context.Context, roomID string, req SendRequest) (string, error) {
	// A message changes no state: it goes through the group commit, built
	// on the room's queued messages (groupcommit.go).
	message := req.StateKey == nil && req.Type != "m.room.redaction" && req.Type != "m.room.create"
	lock := s.lockRoom
	if message {
		lock = s.lockRoomRead
	}
	e, err := lock(ctx, roomID)
	if err != nil {
		return "", err
	}
	if message {
		// Before the transaction ID is looked up: the wait unlocks the
		// room, and a queued send of the same ID could be stored meanwhile.
		e.waitForWriters()
	}
	var txn *Txn
	if req.TxnID != "" {
		scope := "send:" + roomID + ":" + req.Type
		if req.StateKey != nil {
			scope = "state:" + roomID + ":" + req.Type + ":" + *req.StateKey
		}
		txn = &Txn{UserID: req.Sender, DeviceID: req.DeviceID, Scope: scope, TxnID: req.TxnID}
		if id, err := s.store.LookupTxn(ctx, *txn); err == nil {
			e.mu.Unlock()
			return id, nil
		} else if !errors.Is(err, ErrNotFound) {
			e.mu.Unlock()
			return "", err
		}
	}
	if message {
		return s.sendQueued(ctx, e, req, txn)
	}
	defer e.mu.Unlock()
	if req.Type == "m.room.create" {
		// A request that cannot succeed in any room, not a lack of power:
		// 400, as Synapse answers.
		return "", refusal.New(refusal.InvalidParam, "a room's create event cannot be sent again")
	}
	if req.Type == "m.room.canonical_alias" && req.StateKey != nil && *req.StateKey == "" {
		if err := s.checkCanonicalAlias(ctx, e.info.RoomID, req.Content); err != nil {
			return "", err
		}
	}
	if req.Type == "m.room.member" && req.StateKey != nil {
		if err := s.checkMembershipPolicy(ctx, RoomSnapshot{Info: e.info, State: e.state}, req.Sender, *req.StateKey, req.Content); err != nil {
			return "", err
		}
	}
	if req.Type == "m.room.redaction" {
		var c struct {
			Redacts string `json:"redacts"`
		}
		_ = json.Unmarshal(req.Content, &c)
		if c.Redacts == "" {
			return "", refusal.New(refusal.BadJSON, "a redaction sent this way needs content.redacts")
		}
		return s.redactLocked(ctx, e, req.Sender, c.Redacts, req.Content, txn)
	}
	d := newDraft(e)
	ev, err := s.add(d, eventRequest{Sender: req.Sender, Type: req.Type, StateKey: req.StateKey, Content: req.Content})
	if err != nil {
		return "", err
	}
	if prev, ok := e.state[tupleOf(ev)]; ok && ev.IsState() && sameState(prev.Event, ev) {
		// The same state again, by the same sender, changes nothing: as
		// Synapse does, answer with the current event and send none. The
		// new event was still built and authorised, so a sender who may
		// no longer set this state is refused as before.
		return prev.Event.EventID(), nil
	}
	if _, err := s.commit(ctx, e, d, false, txn, nil); err != nil {
		return "", err
	}
	if err := s.afterStateChange(ctx, e, []matrixevents.Event{ev}, ""); err != nil {
		s.log.ErrorContext(ctx, "applying guest access change", "room_id", roomID, "err", err)
	}
	return ev.EventID(), nil
}

// sameState reports whether b would repeat the state event a: same type,
// state key, sender and content (compared as JSON values).
func sameState(a, b matrixevents.Event) bool {
	if a.Type() != b.Type() || a.Sender() != b.Sender() || a.StateKey() == nil || b.StateKey() == nil || *a.StateKey() != *b.StateKey() {
		return false
	}
	var ca, cb any
	if json.Unmarshal(a.Content(), &ca) != nil || json.Unmarshal(b.Content(), &cb) != nil {
		return false
	}
	return reflect.DeepEqual(ca, cb)
}

// Redact redacts an event in a room.
func (s *Service) Redact(ctx context.Context, roomID, sender, deviceID, targetID, txnID string, reason *string) (string, error) {
	e, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return "", err
	}
	defer e.mu.Unlock()
	var txn *Txn
	if txnID != "" {
		txn = &Txn{UserID: sender, DeviceID: deviceID, Scope: "redact:" + roomID, TxnID: txnID}
		if id, err := s.store.LookupTxn(ctx, *txn); err == nil {
			return id, nil
		} else if !errors.Is(err, ErrNotFound) {
			return "", err
		}
	}
	content := map[string]any{}
	if reason != nil {
		content["reason"] = *reason
	}
	raw, _ := json.Marshal(content)
	return s.redactLocked(ctx, e, sender, targetID, raw, txn)
}

func (s *Service) redactLocked(ctx context.Context, e *roomEntry, sender, targetID string, content json.RawMessage, txn *Txn) (string, error) {
	target, err := s.store.GetEvent(ctx, targetID)
	if errors.Is(err, ErrNotFound) {
		return "", refusal.New(refusal.NotFound, "there is no event %s in this room", targetID)
	}
	if err == nil && target.Event.RoomID() != e.info.RoomID {
		return "", refusal.New(refusal.InvalidParam, "event %s belongs to another room; redact it there", targetID)
	}
	if err != nil {
		return "", err
	}
	d := newDraft(e)
	snap := RoomSnapshot{Info: e.info, State: e.state}
	if target.Event.Sender() != sender {
		pl := parsePowerLevels(snap)
		if pl.userLevel(sender) < pl.Redact {
			return "", refusal.New(refusal.Forbidden, "you may only redact your own events: your power level %d is below the %d needed to redact others'", pl.userLevel(sender), pl.Redact)
		}
	}
	ev, err := s.add(d, eventRequest{Sender: sender, Type: "m.room.redaction", Content: content, Redacts: targetID})
	if err != nil {
		return "", err
	}
	redacts := map[string]string{}
	if target.RedactedBy == "" {
		redacts[targetID] = ev.EventID()
	}
	if _, err := s.commit(ctx, e, d, false, txn, redacts); err != nil {
		return "", err
	}
	if target.Event.Type() == "m.room.guest_access" {
		if err := s.afterStateChange(ctx, e, nil, targetID); err != nil {
			s.log.ErrorContext(ctx, "applying guest access redaction", "room_id", e.info.RoomID, "err", err)
		}
	}
	return ev.EventID(), nil
}
