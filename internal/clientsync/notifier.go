// Package clientsync is how clients see the world: /sync, the legacy
// /events stream and initialSync, filters, and the notifier that wakes
// long-polls when something a caller may see happens.
package clientsync

import "sync"

// Notifier wakes waiting long-polls. A waiter listens for one user and a
// set of rooms; a wake names users and rooms, and only waiters listening
// for one of them are woken. Idle waiters cost a goroutine parked on a
// channel, no CPU.
type Notifier struct {
	mu     sync.Mutex
	byUser map[string]map[*Waiter]struct{}
	byRoom map[string]map[*Waiter]struct{}
}

// Waiter is one long-poll's registration.
type Waiter struct {
	C      chan struct{}
	userID string
	rooms  []string
}

// NewNotifier returns an empty notifier.
func NewNotifier() *Notifier {
	return &Notifier{byUser: map[string]map[*Waiter]struct{}{}, byRoom: map[string]map[*Waiter]struct{}{}}
}

// Listen registers a waiter for userID (may be "") and rooms. Register
// before reading state, so a change made while reading still wakes it.
func (n *Notifier) Listen(userID string, rooms []string) *Waiter {
	w := &Waiter{C: make(chan struct{}, 1), userID: userID, rooms: rooms}
	n.mu.Lock()
	defer n.mu.Unlock()
	if userID != "" {
		add(n.byUser, userID, w)
	}
	for _, r := range rooms {
		add(n.byRoom, r, w)
	}
	return w
}

func add(m map[string]map[*Waiter]struct{}, key string, w *Waiter) {
	set := m[key]
	if set == nil {
		set = map[*Waiter]struct{}{}
		m[key] = set
	}
	set[w] = struct{}{}
}

func remove(m map[string]map[*Waiter]struct{}, key string, w *Waiter) {
	if set := m[key]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(m, key)
		}
	}
}

// Stop unregisters a waiter.
func (n *Notifier) Stop(w *Waiter) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if w.userID != "" {
		remove(n.byUser, w.userID, w)
	}
	for _, r := range w.rooms {
		remove(n.byRoom, r, w)
	}
}

// Wake wakes every waiter listening for one of users or rooms.
func (n *Notifier) Wake(users, rooms []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, u := range users {
		for w := range n.byUser[u] {
			w.wake()
		}
	}
	for _, r := range rooms {
		for w := range n.byRoom[r] {
			w.wake()
		}
	}
}

// WakeAll wakes every waiter: they look again for themselves (a process
// that may have missed wakes).
func (n *Notifier) WakeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, set := range n.byUser {
		for w := range set {
			w.wake()
		}
	}
	for _, set := range n.byRoom {
		for w := range set {
			w.wake()
		}
	}
}

func (w *Waiter) wake() {
	select {
	case w.C <- struct{}{}:
	default:
	}
}

// Waiting counts registered waiters (for metrics and tests).
func (n *Notifier) Waiting() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	seen := map[*Waiter]bool{}
	for _, set := range n.byUser {
		for w := range set {
			seen[w] = true
		}
	}
	for _, set := range n.byRoom {
		for w := range set {
			seen[w] = true
		}
	}
	return len(seen)
}
