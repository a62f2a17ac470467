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

// wakeReadsSize bounds the reads kept for one stream position.
const wakeReadsSize = 4096

// wakeReads shares the reads of one stream position among the syncs that
// run at it: a message wakes every long-poll in its room, and each one
// would otherwise read the same new events, and the same members of the
// same state group, from the database. Only reads that depend on
// nothing but their arguments are kept (a room's events in a range, as
// stored; a state group's entries), and only while the stream stays at
// the position they were read at, so a later write (a redaction, an edit
// of the events' relations) is never hidden; events pruned in place by
// self-destruction, which take no position, start it over too. The first
// sync to need a read makes it; the others wait for it.
type wakeReads struct {
	mu      sync.Mutex
	pos     int64
	pruned  uint64
	entries map[string]*wakeRead
}

type wakeRead struct {
	done   chan struct{}
	events []rooms.StoredEvent
	ids    map[matrixevents.StateTuple]string
	err    error
}

// share returns the read for key at pos, making it with read when no
// sync made it yet. A sync at an older position than the newest seen
// reads for itself.
func (w *wakeReads) share(pos int64, pruned uint64, key string, read func(*wakeRead)) *wakeRead {
	w.mu.Lock()
	if pos > w.pos || pruned != w.pruned || w.entries == nil || len(w.entries) >= wakeReadsSize {
		if pos < w.pos {
			w.mu.Unlock()
			r := &wakeRead{}
			read(r)
			return r
		}
		w.pos, w.pruned, w.entries = pos, pruned, map[string]*wakeRead{}
	} else if pos < w.pos {
		w.mu.Unlock()
		r := &wakeRead{}
		read(r)
		return r
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
	if r.err != nil {
		// A failed read (a cancelled request) is not shared.
		w.mu.Lock()
		if w.entries[key] == r {
			delete(w.entries, key)
		}
		w.mu.Unlock()
	}
	return r
}

// roomEvents is store.Events, shared among the syncs at position at
// (every position up to which is visible: the range read must end at or
// before it).
func (s *Service) roomEvents(ctx context.Context, at int64, roomID string, from, to int64, backwards bool, limit int, f rooms.EventFilter) ([]rooms.StoredEvent, error) {
	filterKey, _ := json.Marshal(f)
	key := "e\x00" + roomID + "\x00" + strconv.FormatInt(from, 10) + "\x00" + strconv.FormatInt(to, 10) + "\x00" +
		strconv.FormatBool(backwards) + "\x00" + strconv.Itoa(limit) + "\x00" + string(filterKey)
	r := s.shared.share(at, s.rooms.PrunedGeneration(), key, func(r *wakeRead) {
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

// stateGroupSubset is store.StateGroupSubset, shared likewise (state
// groups never change, but the entry is bounded with the others).
func (s *Service) stateGroupSubset(ctx context.Context, at, group int64, others bool, keys []matrixevents.StateTuple) (map[matrixevents.StateTuple]string, error) {
	sorted := make([]string, 0, len(keys))
	for _, k := range keys {
		sorted = append(sorted, k.Type+"\x01"+k.StateKey)
	}
	slices.Sort(sorted)
	key := "g\x00" + strconv.FormatInt(group, 10) + "\x00" + strconv.FormatBool(others)
	for _, k := range sorted {
		key += "\x00" + k
	}
	r := s.shared.share(at, s.rooms.PrunedGeneration(), key, func(r *wakeRead) {
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
