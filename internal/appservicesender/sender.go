// Package appservicesender delivers to each application service the
// events it should see, as transactions (PUT /_matrix/app/v1/transactions).
//
// Each service follows the server's stream as a sync client does: it
// keeps, durably, the stream position up to which it has been served and
// reads the events after it when the stream advances. Nothing is queued
// on the write path, so clients never wait for a service, and the order
// of the stream is the order of delivery. A transaction is kept whole
// until the service accepts it and sent again, with the same ID, after an
// outage (with backoff) or a restart.
package appservicesender

import (
	"foyer/internal/retry"

	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"foyer/internal/appservice"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// Feed is where the events come from.
type Feed interface {
	EventsAfter(ctx context.Context, from, to int64, limit int) ([]rooms.StoredEvent, error)
	JoinedUsers(ctx context.Context, roomID string) ([]string, error)
	AliasesForRoom(ctx context.Context, roomID string) ([]string, error)
	RoomsWithMembership(ctx context.Context, userID string, memberships ...string) ([]string, error)
	// ToDeviceAfter and DeviceListChangesAfter are read for services
	// that asked for to-device messages (MSC4203) and device lists
	// (MSC3202).
	ToDeviceAfter(ctx context.Context, from, to int64) ([]ToDevice, error)
	DeviceListChangesAfter(ctx context.Context, from, to int64) ([]string, error)
}

// ToDevice is a to-device message as a service receives it.
type ToDevice struct {
	UserID   string          `json:"to_user_id"`
	DeviceID string          `json:"to_device_id"`
	Sender   string          `json:"sender"`
	Type     string          `json:"type"`
	Content  json.RawMessage `json:"content"`
}

// Stream is the server's stream position.
type Stream interface {
	Current() int64
	OnAdvance(func(int64))
}

// Transport sends one transaction.
type Transport interface {
	PutTransaction(ctx context.Context, as *appservice.Service, txnID string, body []byte) error
}

// Options are what the sender is built with.
type Options struct {
	Services  []*appservice.Service
	Feed      Feed
	Stream    Stream
	Store     Store
	Transport Transport
	// Format turns stored events into what clients (and services) see.
	Format func(ctx context.Context, events []rooms.StoredEvent) []matrixevents.ClientEvent
	// MaxEvents caps the events of one transaction.
	MaxEvents int
	// MaxBackoff caps the wait between retries.
	MaxBackoff time.Duration
	Log        *slog.Logger
	// TypingUsers says who types in a room now, for m.typing.
	TypingUsers func(roomID string) []string
	// KeyCounts reads a device's one-time key counts and unused fallback
	// key types (MSC3202).
	KeyCounts func(ctx context.Context, userID, deviceID string) (map[string]int, []string, error)
}

// Sender runs one delivery loop per application service with a url.
type Sender struct {
	opts    Options
	workers []*worker
	byID    map[string]*worker
	stop    context.CancelFunc
	wg      sync.WaitGroup
	// ephemeralIn carries ephemeral events to dispatchEphemeral.
	ephemeralIn chan ephemeralItem
}

// New builds the sender; Start runs it.
func New(opts Options) *Sender {
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = 100
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	s := &Sender{opts: opts, byID: map[string]*worker{}, ephemeralIn: make(chan ephemeralItem, maxEphemeralQueued)}
	for _, as := range opts.Services {
		if !as.HasURL() {
			continue
		}
		w := &worker{s: s, as: as, wake: make(chan struct{}, 1)}
		s.workers = append(s.workers, w)
		s.byID[as.ID] = w
	}
	return s
}

// Start begins delivery; the stream's advances wake the workers.
func (s *Sender) Start() {
	if len(s.workers) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.opts.Stream.OnAdvance(func(int64) {
		for _, w := range s.workers {
			w.poke()
		}
	})
	for _, w := range s.workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			w.run(ctx)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.dispatchEphemeral(ctx)
	}()
}

// Stop ends delivery and waits for the workers; what was not delivered
// is delivered after the next start.
func (s *Sender) Stop() {
	if s.stop != nil {
		s.stop()
	}
	s.wg.Wait()
}

// worker delivers to one service.
type worker struct {
	s    *Sender
	as   *appservice.Service
	wake chan struct{}

	// mu guards the ephemeral events waiting for the next transaction.
	mu        sync.Mutex
	ephemeral []json.RawMessage
	toDevice  []json.RawMessage
	devices   *DeviceLists
	// claimed are devices whose key counts the next transaction carries.
	claimed map[deviceRef]bool
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// transaction is the body of PUT /transactions: the spec's events, with
// the ephemeral data (MSC2409, MSC4203, MSC3202) under the names services
// read, stable and unstable.
type transaction struct {
	Events              []matrixevents.ClientEvent `json:"events"`
	Ephemeral           []json.RawMessage          `json:"ephemeral,omitempty"`
	UnstableEphemeral   []json.RawMessage          `json:"de.sorunome.msc2409.ephemeral,omitempty"`
	ToDevice            []json.RawMessage          `json:"to_device,omitempty"`
	UnstableToDevice    []json.RawMessage          `json:"de.sorunome.msc2409.to_device,omitempty"`
	DeviceLists         *DeviceLists               `json:"device_lists,omitempty"`
	UnstableDeviceLists *DeviceLists               `json:"org.matrix.msc3202.device_lists,omitempty"`
	// OTKCounts and FallbackKeyTypes are by user, then device (MSC3202).
	OTKCounts                map[string]map[string]map[string]int `json:"device_one_time_keys_count,omitempty"`
	UnstableOTKCounts        map[string]map[string]map[string]int `json:"org.matrix.msc3202.device_one_time_keys_count,omitempty"`
	FallbackKeyTypes         map[string]map[string][]string       `json:"device_unused_fallback_key_types,omitempty"`
	UnstableFallbackKeyTypes map[string]map[string][]string       `json:"org.matrix.msc3202.device_unused_fallback_key_types,omitempty"`
}

// DeviceLists are users whose devices changed, or who no longer share a
// room with the service's users (MSC3202).
type DeviceLists struct {
	Changed []string `json:"changed,omitempty"`
	Left    []string `json:"left,omitempty"`
}

// minBackoff is the first wait after a failed delivery.
const minBackoff = time.Second

// saveEvery bounds how often a service's position is written when it
// passes only over events it need not see: after a restart those few are
// read again, and again found of no interest.
const saveEvery = time.Second

func (w *worker) run(ctx context.Context) {
	log := w.s.opts.Log.With("appservice", w.as.ID)
	policy := retry.Backoff{Min: min(minBackoff, w.s.opts.MaxBackoff), Max: w.s.opts.MaxBackoff}
	backoff := policy.Min
	var st State
	for {
		var err error
		if st, err = w.s.opts.Store.State(ctx, w.as.ID, w.s.opts.Stream.Current()); err == nil {
			break
		}
		log.Error("reading the application service's position", "err", err)
		if !retry.Wait(ctx, backoff, nil) {
			return
		}
	}
	lastSaved := time.Now()
	savedPos := st.SentPos
	defer func() {
		// Keep the position passed over, so a restart does not read it
		// again.
		if st.Pending == nil && st.SentPos > savedPos {
			saveCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = w.s.opts.Store.Advance(saveCtx, w.as.ID, st.SentPos)
		}
	}()
	for {
		if ctx.Err() != nil {
			return
		}
		if st.Pending == nil {
			p, upto, err := w.build(ctx, st)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Error("building a transaction", "err", err)
				if !retry.Wait(ctx, backoff, nil) {
					return
				}
				continue
			}
			if p == nil {
				if upto > st.SentPos {
					st.SentPos = upto
					if time.Since(lastSaved) >= saveEvery {
						if err := w.s.opts.Store.Advance(ctx, w.as.ID, upto); err == nil {
							lastSaved, savedPos = time.Now(), upto
						}
					}
					continue // there may be more to read
				}
				select {
				case <-ctx.Done():
					return
				case <-w.wake:
				}
				continue
			}
			if err := w.s.opts.Store.SavePending(ctx, w.as.ID, *p); err != nil {
				log.Error("keeping a transaction", "err", err)
				w.requeue(p)
				if !retry.Wait(ctx, backoff, nil) {
					return
				}
				continue
			}
			st.Pending = p
		}
		err := w.s.opts.Transport.PutTransaction(ctx, w.as, strconv.FormatInt(st.Pending.TxnID, 10), st.Pending.Body)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("the application service did not take a transaction; retrying", "txn_id", st.Pending.TxnID, "in", backoff, "err", err)
			if !retry.Wait(ctx, backoff, nil) {
				return
			}
			backoff = policy.Next(backoff)
			continue
		}
		backoff = policy.Min
		delivered := *st.Pending
		after := State{SentPos: delivered.Upto, NextTxn: delivered.TxnID + 1}
		// The next transaction, when there is one already, is kept in the
		// same write that records this one delivered: one commit a
		// transaction while the service is busy.
		next, _, err := w.build(ctx, after)
		if err != nil {
			next = nil // built again below, after the record
		}
		// Recorded even while stopping: the service has the transaction.
		recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = w.s.opts.Store.Delivered(recordCtx, w.as.ID, delivered, next)
		cancel()
		if err != nil {
			// Sent again after this: the service drops a repeated ID.
			log.Error("recording a delivered transaction", "err", err)
			if next != nil {
				w.requeue(next)
			}
			if !retry.Wait(ctx, backoff, nil) {
				return
			}
			continue
		}
		st = after
		st.Pending = next
		savedPos, lastSaved = delivered.Upto, time.Now()
	}
}

// build reads the events after the service's position and makes the
// next transaction of those it should see, with the ephemeral data
// waiting. nil with upto: nothing to send up to there.
func (w *worker) build(ctx context.Context, st State) (*Pending, int64, error) {
	cur := w.s.opts.Stream.Current()
	upto := st.SentPos
	var interesting []rooms.StoredEvent
	if cur > st.SentPos {
		evs, err := w.s.opts.Feed.EventsAfter(ctx, st.SentPos, cur, w.s.opts.MaxEvents)
		if err != nil {
			return nil, 0, err
		}
		upto = cur
		if len(evs) == w.s.opts.MaxEvents {
			upto = evs[len(evs)-1].StreamPos
		}
		interest := newInterest(w.as, w.s.opts.Feed)
		for _, se := range evs {
			ok, err := interest.wants(ctx, se.Event)
			if err != nil {
				return nil, 0, err
			}
			if ok {
				interesting = append(interesting, se)
			}
		}
	}
	eph, toDev, devs := w.takeEphemeral()
	if upto > st.SentPos {
		streamed, changed, err := w.streamedDeviceData(ctx, st.SentPos, upto)
		if err != nil {
			w.requeueParts(eph, toDev, devs)
			return nil, 0, err
		}
		toDev = append(toDev, streamed...)
		if len(changed) > 0 {
			if devs == nil {
				devs = &DeviceLists{}
			}
			for _, u := range changed {
				if !slices.Contains(devs.Changed, u) {
					devs.Changed = append(devs.Changed, u)
				}
			}
		}
	}
	claimed := w.takeClaimed()
	otk, fallback, err := w.keyCounts(ctx, claimed)
	if err != nil {
		w.requeueParts(eph, toDev, devs)
		w.putBackClaimed(claimed)
		return nil, 0, err
	}
	if len(interesting) == 0 && len(eph) == 0 && len(toDev) == 0 && devs == nil && len(otk) == 0 {
		return nil, upto, nil
	}
	txn := transaction{Events: []matrixevents.ClientEvent{}}
	if len(interesting) > 0 {
		txn.Events = w.s.opts.Format(ctx, interesting)
	}
	txn.Ephemeral, txn.UnstableEphemeral = eph, eph
	txn.ToDevice, txn.UnstableToDevice = toDev, toDev
	txn.DeviceLists, txn.UnstableDeviceLists = devs, devs
	txn.OTKCounts, txn.UnstableOTKCounts = otk, otk
	txn.FallbackKeyTypes, txn.UnstableFallbackKeyTypes = fallback, fallback
	body, err := json.Marshal(txn)
	if err != nil {
		return nil, 0, err
	}
	return &Pending{TxnID: st.NextTxn, Upto: upto, Body: body}, upto, nil
}

// requeue puts back the ephemeral data of a transaction that could not
// be kept, so the next one carries it.
func (w *worker) requeue(p *Pending) {
	var txn transaction
	if json.Unmarshal(p.Body, &txn) != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ephemeral = append(txn.Ephemeral, w.ephemeral...)
	w.toDevice = append(txn.ToDevice, w.toDevice...)
	if txn.DeviceLists != nil {
		w.addDeviceListsLocked(txn.DeviceLists.Changed, txn.DeviceLists.Left)
	}
	if c := claimedIn(txn); len(c) > 0 {
		if w.claimed == nil {
			w.claimed = map[deviceRef]bool{}
		}
		for d := range c {
			w.claimed[d] = true
		}
	}
}

func (w *worker) takeEphemeral() ([]json.RawMessage, []json.RawMessage, *DeviceLists) {
	w.mu.Lock()
	defer w.mu.Unlock()
	eph, toDev, devs := w.ephemeral, w.toDevice, w.devices
	w.ephemeral, w.toDevice, w.devices = nil, nil, nil
	return eph, toDev, devs
}
