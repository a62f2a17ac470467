package rooms

import (
	"context"
	"sync"
)

// ReceiveBatch lets the received events of one inbound transaction share
// database commits: an event that leaves its room's state as it was (a
// message on the current state, or one rejected or soft-failed) is held
// in its room's entry, with its stream position reserved, and written
// with the room's other held events in one database transaction when the
// batch is flushed — or sooner, when anything else locks the room, or an
// event of the room needs more than that. Clients see held events only
// once they are written, and the caller answers for them only after
// Flush: an acknowledged event is durable as before.
type ReceiveBatch struct {
	s *Service

	mu      sync.Mutex
	entries []*roomEntry
	failed  map[string]error
}

// NewReceiveBatch starts a batch; the caller must Flush it.
func (s *Service) NewReceiveBatch() *ReceiveBatch {
	return &ReceiveBatch{s: s, failed: map[string]error{}}
}

// Flush writes every event the batch holds. An event whose write failed
// is reported by Failed.
func (b *ReceiveBatch) Flush(ctx context.Context) {
	b.mu.Lock()
	entries := b.entries
	b.entries = nil
	b.mu.Unlock()
	for _, e := range entries {
		e.mu.Lock()
		if err := b.s.flushLocked(ctx, e); err != nil {
			b.s.log.ErrorContext(ctx, "writing received events", "room_id", e.info.RoomID, "err", err)
		}
		e.mu.Unlock()
	}
}

// Failed is the error that kept a held event from being written, if any.
func (b *ReceiveBatch) Failed(eventID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failed[eventID]
}

func (b *ReceiveBatch) track(e *roomEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, x := range b.entries {
		if x == e {
			return
		}
	}
	b.entries = append(b.entries, e)
}

func (b *ReceiveBatch) fail(ids []string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range ids {
		b.failed[id] = err
	}
}

// heldWrites are a room's received events not yet written.
type heldWrites struct {
	batch   *ReceiveBatch
	appends []Append
	// byID are the held events, as reads in the room must see them.
	byID map[string]StoredEvent
	// shown are those clients will see, in order, with what is told of
	// them once written.
	shown []heldEvent
	dones []func()
}

type heldEvent struct {
	stored StoredEvent
	// servers are those the event is queued for (none: not queued).
	servers []string
}

// canHold reports whether an Append of a received event may wait in a
// batch: it writes one event that is not a state event, and no state
// group, current state or redaction.
func canHold(a Append, ev PersistEvent) bool {
	return len(a.Events) == 1 && !ev.Event.IsState() && !ev.ReplacesOutlier && len(a.StateGroups) == 0 &&
		len(a.AfterGroups) == 0 && a.CurrentState == nil && len(a.Redacts) == 0 && a.NewRoom == nil
}

// hold keeps a received event's Append in the room's held writes (the
// room locked). done releases its stream position; stored and servers are
// what listeners and the federation queue hear of it once written.
func (s *Service) hold(e *roomEntry, b *ReceiveBatch, a Append, done func(), stored StoredEvent, shown bool, servers []string) {
	if e.held == nil {
		e.held = &heldWrites{batch: b, byID: map[string]StoredEvent{}}
		b.track(e)
	}
	h := e.held
	h.appends = append(h.appends, a)
	h.dones = append(h.dones, done)
	h.byID[stored.Event.EventID()] = stored
	if shown {
		h.shown = append(h.shown, heldEvent{stored: stored, servers: servers})
	}
}

// flushLocked writes a locked room's held events in one database
// transaction, then tells listeners of them as receive does. On failure
// the events are dropped, the batch learns which, and the room's cache,
// which counted them, is reloaded on the next lock.
func (s *Service) flushLocked(ctx context.Context, e *roomEntry) error {
	h := e.held
	if h == nil {
		return nil
	}
	e.held = nil
	if err := s.store.AppendAll(context.WithoutCancel(ctx), h.appends); err != nil {
		for _, done := range h.dones {
			done()
		}
		ids := make([]string, 0, len(h.byID))
		for id := range h.byID {
			ids = append(ids, id)
		}
		h.batch.fail(ids, err)
		e.loaded, e.summary, e.pushRoom = false, nil, nil
		return err
	}
	s.listenersMu.RLock()
	for _, f := range s.indexers {
		for _, he := range h.shown {
			f(he.stored)
		}
	}
	s.listenersMu.RUnlock()
	for _, done := range h.dones {
		done()
	}
	s.listenersMu.RLock()
	for _, f := range s.listeners {
		for _, he := range h.shown {
			f(he.stored)
		}
	}
	s.listenersMu.RUnlock()
	for _, he := range h.shown {
		if he.servers != nil {
			s.tellFederated([]StoredEvent{he.stored}, he.servers)
		}
	}
	return nil
}

// heldEvents adds to found those of ids the room holds unwritten (the
// room locked).
func (e *roomEntry) heldEvents(ids []string, found map[string]StoredEvent) {
	if e.held == nil {
		return
	}
	for _, id := range ids {
		if se, ok := e.held.byID[id]; ok {
			found[id] = se
		}
	}
}

// eventsHeldOrStored is EventsAnyStatus for a locked room: the store's
// events and the room's held ones.
func (s *Service) eventsHeldOrStored(ctx context.Context, e *roomEntry, ids []string) (map[string]StoredEvent, error) {
	found, err := s.store.EventsAnyStatus(ctx, ids)
	if err != nil {
		return nil, err
	}
	e.heldEvents(ids, found)
	return found, nil
}

// eventsHeldOrStoredUnlocked is eventsHeldOrStored for a room not locked
// by the caller.
// The held events are looked at first: one written in between is then
// in the store when it is read.
func (s *Service) eventsHeldOrStoredUnlocked(ctx context.Context, roomID string, ids []string) (map[string]StoredEvent, error) {
	held := map[string]StoredEvent{}
	s.mu.Lock()
	e := s.rooms[roomID]
	s.mu.Unlock()
	if e != nil {
		e.mu.Lock()
		e.heldEvents(ids, held)
		e.mu.Unlock()
	}
	found, err := s.store.EventsAnyStatus(ctx, ids)
	if err != nil {
		return nil, err
	}
	for id, se := range held {
		if _, ok := found[id]; !ok {
			found[id] = se
		}
	}
	return found, nil
}
