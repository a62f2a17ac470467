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
	epoch                        int64 // server processes ended before the request was sent
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

	// staleReceipts: the writer's read receipt in each room moves to its
	// second message there; after every later message it re-sends the
	// receipt for its first one, as clients re-send receipts. Pointing
	// backwards, it takes a stream position and stores nothing: the kind
	// of write a restart must not hand the position of out again.
	staleReceipts bool
	sentInRoom    map[string][]string // room → the writer's first two messages there

	// quiet: send no messages for now, only one stale receipt.
	quiet *atomic.Bool
}

func (w *writer) run(ctx context.Context, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(w.id), uint64(time.Now().UnixNano())))
	quietReceiptSent := false
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		if w.quiet.Load() {
			// One stale receipt, so that the last positions before the
			// stop store nothing, yet are few: a reader coming back soon
			// after the restart holds a token just above what is stored.
			if room := w.rooms[rng.IntN(len(w.rooms))]; w.staleReceipts && !quietReceiptSent && len(w.sentInRoom[room]) == 2 {
				w.receipt(ctx, room, w.sentInRoom[room][0])
				quietReceiptSent = true
			}
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		quietReceiptSent = false
		txn := fmt.Sprintf("soak-w%d-%d", w.id, i)
		room := w.rooms[rng.IntN(len(w.rooms))]
		body := "killsoak " + txn
		path := roomPath(room, "/send/m.room.message/"+url.PathEscape(txn))
		eventID := w.send(ctx, rng, room, txn, body, path)
		if w.staleReceipts && eventID != "" {
			if w.sentInRoom == nil {
				w.sentInRoom = map[string][]string{}
			}
			if sent := w.sentInRoom[room]; len(sent) < 2 {
				w.sentInRoom[room] = append(sent, eventID)
				w.receipt(ctx, room, eventID)
			} else {
				w.receipt(ctx, room, sent[0])
			}
		}
	}
}

// receipt sends an m.read receipt; a kill may cut it off, and it is not
// one of the checked writes.
func (w *writer) receipt(ctx context.Context, room, eventID string) {
	_, _ = w.c.do(ctx, 15*time.Second, "POST", roomPath(room, "/receipt/m.read/"+url.PathEscape(eventID)), w.token, map[string]any{})
}

// send returns the acknowledged event's ID, or "" if there is none.
func (w *writer) send(ctx context.Context, rng *rand.Rand, room, txn, body, path string) string {
	content := map[string]any{"msgtype": "m.text", "body": body}
	giveUp := time.Now().Add(w.retryBudget)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			w.led.retries.Add(1)
			if time.Now().After(giveUp) || ctx.Err() != nil {
				w.led.abandoned.Add(1)
				w.log("writer %d: txn %s never acknowledged within %v", w.id, txn, w.retryBudget)
				return ""
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
			return ""
		}
		// The epoch read before the request: the answer may come from
		// that process or (after a restart in between) a later one.
		w.led.add(ack{eventID: r.str("event_id"), roomID: room, txnID: txn, body: body, epoch: epoch})
		return r.str("event_id")
	}
}
