package clientsync

import (
	"sync"
	"sync/atomic"
	"time"
)

// Wakeups wakes long-polls once every write up to a stream position is
// visible, so a woken sync never reads a position whose write is still in
// flight.
//
// It is its own value, made before the services that wake syncs and the
// sync service that serves them, because of a cycle: sync delivers e2ee's
// data (an Extension) and e2ee wakes syncs when keys or to-device
// messages arrive. Both are given the same Wakeups, so neither needs the
// other to exist first.
type Wakeups struct {
	stream   Stream
	notifier *Notifier

	mu      sync.Mutex
	pending []pendingWake
	// observers hear every wake as it happens, with its sequence number
	// (other processes wake their own long-polls from it).
	observers []func(seq int64, users, rooms []string)
	// seq numbers wakes. It starts at the clock, so a process that
	// takes over from another numbers above it.
	seq atomic.Int64
}

type pendingWake struct {
	pos          int64
	users, rooms []string
}

// NewWakeups returns the wakeups of long-polls on stream.
func NewWakeups(stream Stream) *Wakeups {
	w := &Wakeups{stream: stream, notifier: NewNotifier()}
	w.seq.Store(time.Now().UnixNano())
	stream.OnAdvance(w.flush)
	return w
}

// Notifier is where long-polls listen.
func (w *Wakeups) Notifier() *Notifier { return w.notifier }

// WakeAt wakes the listeners of users and rooms once every write up to
// pos is visible.
func (w *Wakeups) WakeAt(pos int64, users, rooms []string) {
	w.mu.Lock()
	if pos <= w.stream.Current() {
		w.mu.Unlock()
		w.wake(users, rooms)
		return
	}
	w.pending = append(w.pending, pendingWake{pos: pos, users: users, rooms: rooms})
	w.mu.Unlock()
}

func (w *Wakeups) flush(current int64) {
	w.mu.Lock()
	var due []pendingWake
	kept := w.pending[:0]
	for _, p := range w.pending {
		if p.pos <= current {
			due = append(due, p)
		} else {
			kept = append(kept, p)
		}
	}
	w.pending = kept
	w.mu.Unlock()
	for _, p := range due {
		w.wake(p.users, p.rooms)
	}
}

// WakeNow wakes the listeners of users and rooms at once, for what has no
// stream position (typing).
func (w *Wakeups) WakeNow(users, rooms []string) {
	w.wake(users, rooms)
}

// Sequence is the number of the latest wake: a long-poll that computed
// its answer after reading it is woken by any wake numbered above it.
func (w *Wakeups) Sequence() int64 { return w.seq.Load() }

// OnWake registers f to hear every wake, with its sequence number.
// Register before serving.
func (w *Wakeups) OnWake(f func(seq int64, users, rooms []string)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.observers = append(w.observers, f)
}

func (w *Wakeups) wake(users, rooms []string) {
	seq := w.seq.Add(1)
	w.notifier.Wake(users, rooms)
	w.mu.Lock()
	observers := w.observers
	w.mu.Unlock()
	for _, f := range observers {
		f(seq, users, rooms)
	}
}
