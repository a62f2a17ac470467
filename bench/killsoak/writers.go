package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// ack is a message the server answered 200 for.
type ack struct {
	eventID, roomID, txnID, body string
	epoch                        int64 // server processes started before the answer, minus one
}

// ledger collects what every writer had acknowledged.
type ledger struct {
	mu   sync.Mutex
	acks []ack

	retries   atomic.Int64 // requests sent again with the same txn ID
	abandoned atomic.Int64 // txns never acknowledged within the retry budget
	refused   atomic.Int64 // non-retryable answers (a bug, not a crash)
}

func (l *ledger) add(a ack) {
	l.mu.Lock()
	l.acks = append(l.acks, a)
	l.mu.Unlock()
}

func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

func (l *ledger) all() []ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ack(nil), l.acks...)
}

// writer sends messages with unique bodies, one at a time, into random
// rooms. A transport error or a retryable answer is retried with the same
// txn ID, as clients do, until answered or the retry budget runs out; it
// stops only between messages, so no txn is left in doubt when it returns.
type writer struct {
	id          int
	token       string
	rooms       []string
	c           *client
	led         *ledger
	epoch       *atomic.Int64
	retryBudget time.Duration
	log         func(format string, args ...any)
}

func (w *writer) run(ctx context.Context, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(w.id), uint64(time.Now().UnixNano())))
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		txn := fmt.Sprintf("soak-w%d-%d", w.id, i)
		room := w.rooms[rng.IntN(len(w.rooms))]
		body := "killsoak " + txn
		path := roomPath(room, "/send/m.room.message/"+url.PathEscape(txn))
		w.send(ctx, rng, room, txn, body, path)
	}
}

func (w *writer) send(ctx context.Context, rng *rand.Rand, room, txn, body, path string) {
	content := map[string]any{"msgtype": "m.text", "body": body}
	giveUp := time.Now().Add(w.retryBudget)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			w.led.retries.Add(1)
			if time.Now().After(giveUp) || ctx.Err() != nil {
				w.led.abandoned.Add(1)
				w.log("writer %d: txn %s never acknowledged within %v", w.id, txn, w.retryBudget)
				return
			}
			time.Sleep(time.Duration(50+rng.IntN(150)) * time.Millisecond)
		}
		epoch := w.epoch.Load()
		r, err := w.c.do(ctx, 15*time.Second, "PUT", path, w.token, content)
		if err != nil || r.retryable() {
			continue
		}
		if r.status != 200 || r.str("event_id") == "" {
			w.led.refused.Add(1)
			w.log("writer %d: txn %s refused: %s", w.id, txn, r)
			return
		}
		// The epoch read before the request: the answer may come from
		// that process or (after a restart in between) a later one.
		w.led.add(ack{eventID: r.str("event_id"), roomID: room, txnID: txn, body: body, epoch: epoch})
		return
	}
}
