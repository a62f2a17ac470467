package presence

import (
	"context"
	"sync"
	"sync/atomic"

	"foyer/internal/keylock"
)

// liveStatuses holds the stored status of every user who is not offline,
// read from the store once and kept in step with each write after: a sync
// finds its caller's status, and an initial sync its room-mates', without
// a query. The table holds everyone ever seen; this holds only those
// online or unavailable now, whom the idle sweep (local users) or their
// own server (remote users) takes offline.
type liveStatuses struct {
	loadMu sync.Mutex
	loaded atomic.Bool // every sync asks: no lock once loaded

	mu     sync.RWMutex
	byUser map[string]Status

	// writers serialise one user's read-compare-write, so the store and
	// the map end with the same status whatever the order of two syncs
	// of one user.
	writers keylock.Striped
}

func newLiveStatuses() *liveStatuses {
	return &liveStatuses{byUser: map[string]Status{}}
}

// load reads the live statuses once; loaded reports the users it found.
func (l *liveStatuses) load(ctx context.Context, store Store, loaded func([]Status)) error {
	if l.loaded.Load() {
		return nil
	}
	l.loadMu.Lock()
	defer l.loadMu.Unlock()
	if l.loaded.Load() {
		return nil
	}
	statuses, err := store.Live(ctx)
	if err != nil {
		return err
	}
	l.mu.Lock()
	for _, st := range statuses {
		if cur, ok := l.byUser[st.UserID]; !ok || cur.StreamPos < st.StreamPos {
			l.byUser[st.UserID] = st
		}
	}
	l.mu.Unlock()
	if loaded != nil {
		loaded(statuses)
	}
	l.loaded.Store(true)
	return nil
}

// get returns userID's status when it is not offline.
func (l *liveStatuses) get(userID string) (Status, bool) {
	l.mu.RLock()
	st, ok := l.byUser[userID]
	l.mu.RUnlock()
	return st, ok
}

// stored records a status the store now holds.
func (l *liveStatuses) stored(st Status) {
	l.mu.Lock()
	if st.Presence == Offline {
		delete(l.byUser, st.UserID)
	} else {
		l.byUser[st.UserID] = st
	}
	l.mu.Unlock()
}

// among returns the live statuses of users stored at or before position
// to, in no particular order.
func (l *liveStatuses) among(users []string, to int64) []Status {
	var out []Status
	l.mu.RLock()
	for _, u := range users {
		if st, ok := l.byUser[u]; ok && st.StreamPos <= to {
			out = append(out, st)
		}
	}
	l.mu.RUnlock()
	return out
}
