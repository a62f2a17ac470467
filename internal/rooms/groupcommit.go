package rooms

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// Group commit: concurrent message sends share database commits.
//
// A message changes no state, so many can be built one after another on a
// room's in-memory tip (its stored info plus the messages queued on it)
// under the room's lock, each with its stream position, and queued. One
// committer writes everything queued, in every room, in one transaction,
// while the next sends build on the tip: one durable commit for many
// requests. Each request is answered only after the transaction holding
// its event has committed and listeners have heard of it. A failed
// transaction fails every request in it and every message queued on top
// of its events (their prev_events would name events never stored); the
// tip falls back to the room's stored state.
//
// Anything else that changes a room (state, redactions, received events,
// joins...) first waits for the room's queue to empty, and new sends wait
// behind it, so every other write still builds on stored state alone.

// maxGroupCommit bounds one transaction: a larger batch would only make
// its first requests wait longer.
const maxGroupCommit = 256

// queuedSend is one message built on a room's tip, waiting for its commit.
type queuedSend struct {
	e *roomEntry
	// generation is the room's pipeline generation when it was built: a
	// failed commit in the room raises it, dooming what was built on it.
	generation uint64
	append     Append
	stored     StoredEvent
	// infoAfter is the room's info once this event is stored.
	infoAfter RoomInfo
	done      func() // releases the stream position
	txnKey    string
	// result is closed once err is set: nil when stored and announced.
	result chan struct{}
	err    error
}

// roomPipeline is a room's queue of sends not yet stored (under the
// room's lock).
type roomPipeline struct {
	queued     int // built, not yet stored and announced (or failed)
	generation uint64
	// tip is the room's info after its last queued send (valid while
	// tipValid: a failure makes the next send build on stored info).
	tip      RoomInfo
	tipValid bool
	// txns are the queued sends by transaction-ID key: the same
	// transaction again answers with the queued event.
	txns map[string]*queuedSend
	// waiters are writers waiting for the queue to empty; while any
	// waits, new sends queue behind them instead of on the tip.
	waiters int
	quiet   *sync.Cond
}

// pipeline returns the room's pipeline, making it (the room locked).
func (e *roomEntry) pipeline() *roomPipeline {
	if e.pipe == nil {
		e.pipe = &roomPipeline{txns: map[string]*queuedSend{}, quiet: sync.NewCond(&e.mu)}
	}
	return e.pipe
}

// waitQuiet waits, the room locked, until no send is queued in it, so the
// caller's write builds on stored state.
func (e *roomEntry) waitQuiet() {
	p := e.pipe
	if p == nil || p.queued == 0 {
		return
	}
	p.waiters++
	for p.queued > 0 {
		p.quiet.Wait()
	}
	p.waiters--
	// Sends that queued behind this waiter wait on quiet too.
	p.quiet.Broadcast()
}

// groupCommitter writes queued sends. A room's sends go through one lane,
// so they are stored in order; a lane stores the sends of all its rooms
// together. SQLite's one writer connection takes one transaction at a
// time, so there every room shares one lane and each commit. PostgreSQL
// takes many at once, and a transaction there costs a round trip a
// statement: each room has its own lane, and rooms commit side by side
// as they did before group commit.
type groupCommitter struct {
	shared *commitLane // nil: a lane per room
}

// commitLane is one committer's queue.
type commitLane struct {
	mu      sync.Mutex
	queue   []*queuedSend
	running bool
}

func newGroupCommitter(perRoom bool) groupCommitter {
	if perRoom {
		return groupCommitter{}
	}
	return groupCommitter{shared: &commitLane{}}
}

// lane is the lane of a room.
func (g *groupCommitter) lane(e *roomEntry) *commitLane {
	if g.shared != nil {
		return g.shared
	}
	return &e.lane
}

// enqueue queues q in its room's lane, starting the lane's committer when
// idle. Called with q's room locked, so a room's sends queue in the order
// they were built.
func (s *Service) enqueue(q *queuedSend) {
	l := s.committer.lane(q.e)
	l.mu.Lock()
	l.queue = append(l.queue, q)
	start := !l.running
	l.running = true
	l.mu.Unlock()
	if start {
		go s.runCommitter(l)
	}
}

// runCommitter writes a lane's batches until its queue is empty.
func (s *Service) runCommitter(l *commitLane) {
	for {
		l.mu.Lock()
		n := min(len(l.queue), maxGroupCommit)
		if n == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		batch := slices.Clone(l.queue[:n])
		l.queue = slices.Delete(l.queue, 0, n)
		l.mu.Unlock()
		s.commitBatch(context.Background(), batch)
	}
}

// errBuiltOnFailedCommit answers a send queued on events whose commit
// failed.
var errBuiltOnFailedCommit = errors.New("an earlier event of the room this one follows could not be stored")

// commitBatch writes one batch in one transaction and settles each of its
// sends.
func (s *Service) commitBatch(ctx context.Context, batch []*queuedSend) {
	// Sends built on a failed commit are failed, not written.
	var live []*queuedSend
	var appends []Append
	for _, q := range batch {
		q.e.mu.Lock()
		stale := q.generation != q.e.pipe.generation
		q.e.mu.Unlock()
		if stale {
			s.settle(q, errBuiltOnFailedCommit)
			continue
		}
		live = append(live, q)
		appends = append(appends, q.append)
	}
	if len(live) == 0 {
		return
	}
	if err := s.store.AppendAll(ctx, appends); err != nil {
		s.log.ErrorContext(ctx, "storing sent events", "events", len(live), "err", err)
		failed := map[*roomEntry]bool{}
		for _, q := range live {
			if !failed[q.e] {
				failed[q.e] = true
				q.e.mu.Lock()
				q.e.pipe.generation++
				q.e.pipe.tipValid = false
				q.e.mu.Unlock()
			}
			s.settle(q, err)
		}
		return
	}
	// Each room takes its last stored info, and indexes learn of the
	// events before their positions are visible.
	byRoom := map[*roomEntry][]*queuedSend{}
	var order []*roomEntry
	for _, q := range live {
		if byRoom[q.e] == nil {
			order = append(order, q.e)
		}
		byRoom[q.e] = append(byRoom[q.e], q)
	}
	for _, e := range order {
		qs := byRoom[e]
		e.mu.Lock()
		e.info = qs[len(qs)-1].infoAfter
		s.listenersMu.RLock()
		for _, f := range s.indexers {
			for _, q := range qs {
				f(q.stored)
			}
		}
		s.listenersMu.RUnlock()
		e.mu.Unlock()
	}
	for _, q := range live {
		q.done()
	}
	if s.selfDestruct != nil && slices.ContainsFunc(live, func(q *queuedSend) bool { return q.append.Events[0].ExpiresTS > 0 }) {
		s.selfDestruct.scheduled()
	}
	for _, e := range order {
		qs := byRoom[e]
		stored := make([]StoredEvent, len(qs))
		for i, q := range qs {
			stored[i] = q.stored
		}
		e.mu.Lock()
		s.announce(e, stored)
		e.mu.Unlock()
		for _, q := range qs {
			s.settle(q, nil)
		}
	}
}

// settle ends a queued send: its position released, its room's queue one
// shorter, its requester answered.
func (s *Service) settle(q *queuedSend, err error) {
	q.done()
	q.e.mu.Lock()
	p := q.e.pipe
	p.queued--
	if p.txns[q.txnKey] == q {
		delete(p.txns, q.txnKey)
	}
	if p.queued == 0 {
		p.tipValid = false
		p.quiet.Broadcast()
	}
	q.e.mu.Unlock()
	q.err = err
	close(q.result)
}

// waitForWriters waits, the room locked, while another write waits for
// the room's queue to empty: a send queues after that write, or the write
// could wait for ever in a busy room.
func (e *roomEntry) waitForWriters() {
	p := e.pipeline()
	for p.waiters > 0 {
		p.quiet.Wait()
	}
}

// sendQueued sends a message through the group commit: built on the
// room's tip under its lock, answered once stored. The room is locked on
// entry (waitForWriters done, the transaction ID looked up in the store
// since) and unlocked on return.
func (s *Service) sendQueued(ctx context.Context, e *roomEntry, req SendRequest, txn *Txn) (string, error) {
	p := e.pipeline()
	txnKey := ""
	if txn != nil {
		txnKey = txn.UserID + "\x00" + txn.DeviceID + "\x00" + txn.Scope + "\x00" + txn.TxnID
		if q, ok := p.txns[txnKey]; ok {
			e.mu.Unlock()
			return q.wait(ctx)
		}
	}
	d := newDraft(e)
	if p.queued > 0 && p.tipValid {
		d.info = p.tip
	}
	ev, err := s.add(d, eventRequest{Sender: req.Sender, Type: req.Type, Content: req.Content})
	if err != nil {
		e.mu.Unlock()
		return "", err
	}
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		e.mu.Unlock()
		return "", err
	}
	pe := d.events[0]
	pe.StreamPos, pe.StateBefore = pos, d.info.StateGroup
	q := &queuedSend{
		e: e, generation: p.generation, done: done, txnKey: txnKey, result: make(chan struct{}),
		infoAfter: d.info,
		append: Append{RoomID: d.info.RoomID, Events: []PersistEvent{pe}, Txn: txn,
			Extremities: d.info.Extremities, StateGroup: d.info.StateGroup},
		stored: StoredEvent{Event: ev, StreamPos: pos, HistoryVisibility: pe.HistoryVisibility, StateGroup: pe.StateBefore},
	}
	p.queued++
	p.tip, p.tipValid = d.info, true
	if txnKey != "" {
		p.txns[txnKey] = q
	}
	s.enqueue(q)
	e.mu.Unlock()
	return q.wait(ctx)
}

// wait answers with the queued send's event once it is stored.
func (q *queuedSend) wait(ctx context.Context) (string, error) {
	select {
	case <-q.result:
		if q.err != nil {
			return "", q.err
		}
		return q.stored.Event.EventID(), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
