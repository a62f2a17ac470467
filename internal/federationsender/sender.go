// Package federationsender sends PDUs and EDUs to other servers: each
// destination has a queue kept in the database, drained by one worker at a
// time in transactions (PUT /_matrix/federation/v1/send/{txnId}), retried
// with exponential backoff while the destination is down, and resumed
// after a restart. Queueing only writes the queue: no client request waits
// on another server.
package federationsender

import (
	"foyer/internal/retry"

	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"foyer/internal/rooms/matrixevents"
)

// Kind says whether a queued item is a PDU or an EDU.
type Kind string

const (
	PDU Kind = "pdu"
	EDU Kind = "edu"
)

// Item is one queued PDU or EDU of a destination.
type Item struct {
	Position int64
	Kind     Kind
	JSON     json.RawMessage
}

// SortByPosition puts items in queue order.
func SortByPosition(items []Item) {
	slices.SortFunc(items, func(a, b Item) int { return cmp.Compare(a.Position, b.Position) })
}

// Store keeps the queues (storage.FederationQueue).
type Store interface {
	// Add queues item for every destination, keeping only the newest
	// keep items of that kind per destination (keep <= 0: no cap).
	Add(ctx context.Context, destinations []string, kind Kind, item json.RawMessage, createdTS int64, keep int) error
	// Next returns the oldest items of destination in queue order.
	Next(ctx context.Context, destination string, maxPDUs, maxEDUs int) ([]Item, error)
	Remove(ctx context.Context, destination string, positions []int64) error
	RemoveDestination(ctx context.Context, destination string) error
	Destinations(ctx context.Context) ([]string, error)
}

// The spec's limits on one transaction, and a bound on its size: 100
// large EDUs (to-device messages) could otherwise make a request larger
// than receivers accept (Foyer takes 5 MiB), which they would refuse
// whole.
const (
	maxPDUsPerTransaction = 50
	maxEDUsPerTransaction = 100
	maxTransactionBytes   = 4 << 20
)

// Defaults of Options.
const (
	DefaultMaxWorkers     = 32
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = time.Hour
	DefaultMaxQueuedPDUs  = 10000
	DefaultMaxQueuedEDUs  = 1000
	DefaultRequestTimeout = 2 * time.Minute
)

// Options configure a Sender.
type Options struct {
	ServerName string
	SigningKey *matrixevents.SigningKey
	// HTTP sends the transactions to matrix-federation://NAME URLs.
	HTTP *http.Client
	// Permits reports whether a server may be federated with; nil permits
	// every server.
	Permits func(serverName string) bool
	Log     *slog.Logger
	// MaxWorkers caps the destinations being sent to at once; the others
	// wait for a free worker.
	MaxWorkers int
	// A failed transaction is retried after MinBackoff, doubling on each
	// failure up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// The queue of a destination keeps at most MaxQueuedPDUs PDUs and
	// MaxQueuedEDUs EDUs: beyond that the oldest of the kind are dropped
	// (a destination back from a long outage fetches missing PDUs
	// itself, through prev_events; stale EDUs are worthless).
	MaxQueuedPDUs, MaxQueuedEDUs int
	// RequestTimeout bounds one transaction request.
	RequestTimeout time.Duration
}

// Sender owns the per-destination queues and their workers.
type Sender struct {
	store Store
	opt   Options

	mu      sync.Mutex
	started bool
	ctx     context.Context
	cancel  context.CancelFunc
	workers map[string]*worker // destination → its running worker
	wg      sync.WaitGroup
	slots   chan struct{}
}

// New returns a sender over store; Start runs its workers.
func New(store Store, opt Options) *Sender {
	if opt.MaxWorkers <= 0 {
		opt.MaxWorkers = DefaultMaxWorkers
	}
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = DefaultMinBackoff
	}
	if opt.MaxBackoff < opt.MinBackoff {
		opt.MaxBackoff = max(DefaultMaxBackoff, opt.MinBackoff)
	}
	if opt.MaxQueuedPDUs <= 0 {
		opt.MaxQueuedPDUs = DefaultMaxQueuedPDUs
	}
	if opt.MaxQueuedEDUs <= 0 {
		opt.MaxQueuedEDUs = DefaultMaxQueuedEDUs
	}
	if opt.RequestTimeout <= 0 {
		opt.RequestTimeout = DefaultRequestTimeout
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.HTTP == nil {
		opt.HTTP = http.DefaultClient
	}
	return &Sender{store: store, opt: opt, workers: map[string]*worker{}, slots: make(chan struct{}, opt.MaxWorkers)}
}

// worker is a destination's running worker: wakeup says its queue has
// something new, heardFrom that the destination answered us, so a retry
// waiting out a backoff goes now.
type worker struct {
	wakeup, heardFrom chan struct{}
}

// Queue queues pdu for each destination and wakes their workers. It
// returns once the queue is written, without waiting on any destination.
// Our own server and servers federation does not permit are left out.
func (s *Sender) Queue(ctx context.Context, destinations []string, pdu json.RawMessage) error {
	return s.queue(ctx, destinations, PDU, pdu, s.opt.MaxQueuedPDUs)
}

// QueueEDU queues edu for each destination, as Queue does a PDU.
func (s *Sender) QueueEDU(ctx context.Context, destinations []string, edu json.RawMessage) error {
	return s.queue(ctx, destinations, EDU, edu, s.opt.MaxQueuedEDUs)
}

func (s *Sender) queue(ctx context.Context, destinations []string, kind Kind, item json.RawMessage, keep int) error {
	if !json.Valid(item) {
		return fmt.Errorf("federation sender: the %s is not JSON", kind)
	}
	var to []string
	for _, d := range destinations {
		if s.sendsTo(d) && !slices.Contains(to, d) {
			to = append(to, d)
		}
	}
	if len(to) == 0 {
		return nil
	}
	if err := s.store.Add(ctx, to, kind, item, time.Now().UnixMilli(), keep); err != nil {
		return fmt.Errorf("federation sender: queueing a %s: %w", kind, err)
	}
	for _, d := range to {
		s.wake(d)
	}
	return nil
}

// sendsTo reports whether destination is another server we may send to.
func (s *Sender) sendsTo(destination string) bool {
	if destination == "" || strings.EqualFold(destination, s.opt.ServerName) {
		return false
	}
	return s.opt.Permits == nil || s.opt.Permits(destination)
}

// Start resumes every destination with something queued and lets Queue
// wake workers from now on.
func (s *Sender) Start() error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return nil
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.started = true
	s.mu.Unlock()
	dests, err := s.store.Destinations(s.ctx)
	if err != nil {
		return fmt.Errorf("federation sender: listing queued destinations: %w", err)
	}
	for _, d := range dests {
		if !s.sendsTo(d) {
			// Blocked since it was queued (or our own name): its queue
			// will never be sent.
			if err := s.store.RemoveDestination(s.ctx, d); err != nil {
				s.opt.Log.Warn("federation sender: dropping a queue", "destination", d, "error", err)
			}
			continue
		}
		s.wake(d)
	}
	return nil
}

// Stop ends the workers, interrupting requests in flight; what they had
// not sent stays queued for the next Start.
func (s *Sender) Stop() {
	s.mu.Lock()
	if !s.started {
		s.mu.Unlock()
		return
	}
	s.started = false
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
}

// wake starts destination's worker, or tells the running one to look at
// its queue again. Before Start it does nothing: Start resumes the queue.
func (s *Sender) wake(destination string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return
	}
	if w, ok := s.workers[destination]; ok {
		retry.Signal(w.wakeup)
		return
	}
	w := &worker{wakeup: make(chan struct{}, 1), heardFrom: make(chan struct{}, 1)}
	s.workers[destination] = w
	s.wg.Add(1)
	go s.work(s.ctx, destination, w)
}

// HeardFrom tells the sender that destination has just made a request to
// us: it is up again, so a transaction waiting out a backoff for it is
// retried now rather than at the end of the backoff (which may be an
// hour), and the destination catches up at once.
func (s *Sender) HeardFrom(destination string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.workers[destination]; ok {
		retry.Signal(w.heardFrom)
	}
}

// work drains destination's queue, then ends; a later wake starts another.
func (s *Sender) work(ctx context.Context, destination string, w *worker) {
	defer s.wg.Done()
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		items, err := s.store.Next(ctx, destination, maxPDUsPerTransaction, maxEDUsPerTransaction)
		items = fitTransaction(items, maxTransactionBytes)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			s.opt.Log.Error("federation sender: reading the queue", "destination", destination, "error", err)
			backoff = s.nextBackoff(backoff)
			if !retry.Wait(ctx, backoff, nil) {
				break
			}
			continue
		}
		if len(items) == 0 {
			s.mu.Lock()
			select {
			case <-w.wakeup:
				s.mu.Unlock()
				continue
			default:
			}
			delete(s.workers, destination)
			s.mu.Unlock()
			return
		}
		// The same batch is retried until it is accepted or rejected, so
		// its txnId stays the same.
		for {
			again, err := s.sendWithSlot(ctx, destination, items)
			if err == nil {
				backoff = 0
				break
			}
			if ctx.Err() != nil {
				break
			}
			if !again {
				s.opt.Log.Warn("federation sender: the destination rejected a transaction; dropping it",
					"destination", destination, "pdus", countKind(items, PDU), "edus", countKind(items, EDU), "error", err)
				break
			}
			backoff = s.nextBackoff(backoff)
			s.opt.Log.Info("federation sender: sending failed; retrying later",
				"destination", destination, "retry_in", backoff.String(), "error", err)
			// A word from the destination during the backoff only counts
			// from now: one from before this failure says nothing.
			select {
			case <-w.heardFrom:
			default:
			}
			if !retry.Wait(ctx, backoff, w.heardFrom) {
				break
			}
		}
		if ctx.Err() != nil {
			break
		}
		positions := make([]int64, len(items))
		for i, it := range items {
			positions[i] = it.Position
		}
		if err := s.store.Remove(ctx, destination, positions); err != nil && ctx.Err() == nil {
			s.opt.Log.Error("federation sender: removing sent items", "destination", destination, "error", err)
		}
	}
	s.mu.Lock()
	delete(s.workers, destination)
	s.mu.Unlock()
}

func (s *Sender) nextBackoff(prev time.Duration) time.Duration {
	return retry.Backoff{Min: s.opt.MinBackoff, Max: s.opt.MaxBackoff}.Next(prev)
}

// sendWithSlot sends one transaction while holding a worker slot: the cap
// counts requests in flight, not destinations waiting out a backoff.
func (s *Sender) sendWithSlot(ctx context.Context, destination string, items []Item) (retry bool, err error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return true, ctx.Err()
	}
	defer func() { <-s.slots }()
	return s.send(ctx, destination, items)
}

// send sends items as one transaction. retry says whether a failure is
// worth retrying (network error, 5xx, 429) or the destination rejected it.
func (s *Sender) send(ctx context.Context, destination string, items []Item) (retry bool, err error) {
	txn := struct {
		Origin         string            `json:"origin"`
		OriginServerTS int64             `json:"origin_server_ts"`
		PDUs           []json.RawMessage `json:"pdus"`
		EDUs           []json.RawMessage `json:"edus"`
	}{Origin: s.opt.ServerName, OriginServerTS: time.Now().UnixMilli(), PDUs: []json.RawMessage{}, EDUs: []json.RawMessage{}}
	for _, it := range items {
		if it.Kind == PDU {
			txn.PDUs = append(txn.PDUs, it.JSON)
		} else {
			txn.EDUs = append(txn.EDUs, it.JSON)
		}
	}
	body, err := json.Marshal(txn)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opt.RequestTimeout)
	defer cancel()
	u := "matrix-federation://" + destination + "/_matrix/federation/v1/send/" + url.PathEscape(TransactionID(items))
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := matrixevents.SignRequest(req, s.opt.SigningKey, s.opt.ServerName, destination, body); err != nil {
		return false, err
	}
	resp, err := s.opt.HTTP.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, errors.New(resp.Status)
	case resp.StatusCode >= 400:
		return false, errors.New(resp.Status)
	default:
		return true, errors.New(resp.Status)
	}
}

// fitTransaction keeps the first items, in queue order, whose JSON fits in
// limit bytes (at least one: an item larger than limit goes alone). The
// same queue gives the same batch again, so a retry keeps its txnId.
func fitTransaction(items []Item, limit int) []Item {
	total := 0
	for i, it := range items {
		total += len(it.JSON)
		if total > limit && i > 0 {
			return items[:i]
		}
	}
	return items
}

// TransactionID names a batch by its first position and a digest of all
// its positions: a retry of the same batch, even after a restart, has the
// same ID, and a different batch never does.
func TransactionID(items []Item) string {
	h := sha256.New()
	for _, it := range items {
		h.Write(strconv.AppendInt(nil, it.Position, 10))
		h.Write([]byte{','})
	}
	first := int64(0)
	if len(items) > 0 {
		first = items[0].Position
	}
	return strconv.FormatInt(first, 10) + "-" + hex.EncodeToString(h.Sum(nil)[:8])
}

func countKind(items []Item, k Kind) int {
	n := 0
	for _, it := range items {
		if it.Kind == k {
			n++
		}
	}
	return n
}
