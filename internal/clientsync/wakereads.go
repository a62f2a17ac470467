package clientsync

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"

	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// sharedReadsEvents bounds the events (and state entries) the shared
// reads hold, a few megabytes at most; past it they start over. A wake
// needs a handful per room, and the whole state of a room whose state
// changed (a join wakes every member, and each would read it).
const sharedReadsEvents = 20000

// wakeReads shares reads among syncs: a message wakes every long-poll in
// its room, and each one would otherwise read the same new events, and
// the same members of the same state group, from the database. Only
// reads that depend on nothing but their arguments are kept: a state
// group's entries never change, and a room's events in a range are
// keyed by the range narrowed to the positions of the room's own events
// (changeIndex.sameEventsRange), so syncs whose tokens differ by writes
// elsewhere share, while a write to the room (a redaction among them)
// makes a new key. Events pruned in place by self-destruction,
// which take no position, start the reads over. The first sync to need
// a read makes it; the others wait for it.
type wakeReads struct {
	mu      sync.Mutex
	pruned  uint64
	held    int // events held
	entries map[string]*wakeRead
}

type wakeRead struct {
	done   chan struct{}
	events []rooms.StoredEvent
	ids    map[matrixevents.StateTuple]string
	group  int64
	byID   *eventsRead
	err    error
}

// eventsRead are events of one room read by ID, gathered from the reads
// of the syncs that share it: each reads only those no other read yet.
type eventsRead struct {
	mu     sync.Mutex
	events map[string]rooms.StoredEvent
}

// share returns the read for key, making it with read when no sync made
// it yet.
func (w *wakeReads) share(pruned uint64, key string, read func(*wakeRead)) *wakeRead {
	w.mu.Lock()
	if pruned != w.pruned || w.entries == nil || w.held >= sharedReadsEvents {
		w.pruned, w.held, w.entries = pruned, 0, map[string]*wakeRead{}
	}
	if r, ok := w.entries[key]; ok {
		w.mu.Unlock()
		<-r.done
		return r
	}
	r := &wakeRead{done: make(chan struct{})}
	w.entries[key] = r
	w.mu.Unlock()
	read(r)
	close(r.done)
	w.mu.Lock()
	if r.err != nil {
		// A failed read is not shared.
		if w.entries[key] == r {
			delete(w.entries, key)
		}
	} else {
		w.held += len(r.events) + len(r.ids) + 1
	}
	w.mu.Unlock()
	return r
}

// roomEvents is store.Events, shared among syncs; the range must end
// at or before the stream's current position.
func (s *Service) roomEvents(ctx context.Context, roomID string, from, to int64, backwards bool, limit int, f rooms.EventFilter) ([]rooms.StoredEvent, error) {
	// The same events, under a key that holds while the room is quiet.
	if backwards {
		// [to, from) is (to-1, from-1].
		lower, upper := s.changes.sameEventsRange(roomID, to-1, from-1)
		to, from = lower+1, upper+1
	} else {
		from, to = s.changes.sameEventsRange(roomID, from, to)
	}
	filterKey, _ := json.Marshal(f)
	key := "e\x00" + roomID + "\x00" + strconv.FormatInt(from, 10) + "\x00" + strconv.FormatInt(to, 10) + "\x00" +
		strconv.FormatBool(backwards) + "\x00" + strconv.Itoa(limit) + "\x00" + string(filterKey)
	r := s.shared.share(s.rooms.PrunedGeneration(), key, func(r *wakeRead) {
		// Detached from the request that happens to make the read: the
		// others waiting on it must not see its cancellation.
		r.events, r.err = s.store.Events(context.WithoutCancel(ctx), roomID, from, to, backwards, limit, f)
	})
	if r.err != nil {
		return nil, r.err
	}
	// Callers may reorder or cut the slice they get.
	return slices.Clone(r.events), nil
}

// stateGroupAt is store.StateGroupAt, shared likewise: the state after
// the room's last event at or before pos, which is the same for every
// pos back to that event (a group is settled in the write that stores
// its event).
func (s *Service) stateGroupAt(ctx context.Context, roomID string, pos int64) (int64, error) {
	_, at := s.changes.sameEventsRange(roomID, pos, pos)
	key := "a\x00" + roomID + "\x00" + strconv.FormatInt(at, 10)
	r := s.shared.share(s.rooms.PrunedGeneration(), key, func(r *wakeRead) {
		r.group, r.err = s.store.StateGroupAt(context.WithoutCancel(ctx), roomID, at)
	})
	return r.group, r.err
}

// stateGroupSubset is store.StateGroupSubset, shared likewise (state
// groups never change).
func (s *Service) stateGroupSubset(ctx context.Context, group int64, others bool, keys []matrixevents.StateTuple) (map[matrixevents.StateTuple]string, error) {
	sorted := make([]string, 0, len(keys))
	for _, k := range keys {
		sorted = append(sorted, k.Type+"\x01"+k.StateKey)
	}
	slices.Sort(sorted)
	key := "g\x00" + strconv.FormatInt(group, 10) + "\x00" + strconv.FormatBool(others)
	for _, k := range sorted {
		key += "\x00" + k
	}
	r := s.shared.share(s.rooms.PrunedGeneration(), key, func(r *wakeRead) {
		r.ids, r.err = s.store.StateGroupSubset(context.WithoutCancel(ctx), group, others, keys)
	})
	if r.err != nil {
		return nil, r.err
	}
	// Callers may change the map they get.
	out := make(map[matrixevents.StateTuple]string, len(r.ids))
	for k, v := range r.ids {
		out[k] = v
	}
	return out, nil
}

// stateGroupIDs is store.StateGroupIDs, shared likewise. The map is the
// one every sync shares: callers must not change it.
func (s *Service) stateGroupIDs(ctx context.Context, group int64) (map[matrixevents.StateTuple]string, error) {
	key := "G\x00" + strconv.FormatInt(group, 10)
	r := s.shared.share(s.rooms.PrunedGeneration(), key, func(r *wakeRead) {
		r.ids, r.err = s.store.StateGroupIDs(context.WithoutCancel(ctx), group)
	})
	return r.ids, r.err
}

// eventsByID is store.EventsAnyStatus for events of roomID, shared among
// syncs whose end is past the same last event of the room: an event's row
// changes only with a later event of its room (a redaction), and pruning
// by self-destruction starts the reads over. A gappy sync of a busy room
// reads the members who joined in its gap, and every member's sync woken
// with it reads nearly the same ones.
func (s *Service) eventsByID(ctx context.Context, roomID string, end int64, ids []string) (map[string]rooms.StoredEvent, error) {
	_, at := s.changes.sameEventsRange(roomID, end, end)
	key := "i\x00" + roomID + "\x00" + strconv.FormatInt(at, 10)
	r := s.shared.share(s.rooms.PrunedGeneration(), key, func(r *wakeRead) {
		r.byID = &eventsRead{events: map[string]rooms.StoredEvent{}}
	})
	out := make(map[string]rooms.StoredEvent, len(ids))
	var missing []string
	r.byID.mu.Lock()
	for _, id := range ids {
		if se, ok := r.byID.events[id]; ok {
			out[id] = se
		} else {
			missing = append(missing, id)
		}
	}
	r.byID.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	read, err := s.store.EventsAnyStatus(ctx, missing)
	if err != nil {
		return nil, err
	}
	r.byID.mu.Lock()
	for id, se := range read {
		out[id] = se
		r.byID.events[id] = se
	}
	r.byID.mu.Unlock()
	s.shared.hold(len(read))
	return out, nil
}

// hold counts n more events held by a shared read, against the budget.
func (w *wakeReads) hold(n int) {
	w.mu.Lock()
	w.held += n
	w.mu.Unlock()
}
