package pushsender

import (
	"foyer/internal/retry"

	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultGiveUpAfter    = 24 * time.Hour
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxRequests    = 64
	// maxQueuedPerPusher bounds the queue of a pusher whose gateway
	// fails: its oldest entries are dropped beyond it.
	maxQueuedPerPusher = 1000
	// Sent entries leave the queue in batches of up to removeBatch,
	// gathered for at most removeEvery.
	removeBatch = 1000
	removeEvery = 50 * time.Millisecond
	// keepNotifications is how long GET /notifications and the badge
	// count see a notification.
	keepNotifications = 30 * 24 * time.Hour
)

// Options configure a Sender.
type Options struct {
	// ServerName decides which users are local.
	ServerName string
	// HTTP sends the gateway requests: the outbound client's, which
	// refuses private addresses unless allowed and trusts the system's
	// and the operator's CAs.
	HTTP *http.Client
	// GiveUpAfter is how long a notification is retried while its
	// gateway fails before it is dropped (push.give_up_after).
	GiveUpAfter time.Duration
	// RequestTimeout bounds one gateway request (push.request_timeout).
	RequestTimeout time.Duration
	// Ignores, when set, keeps ignored users' events from notifying.
	Ignores Ignores
	// MaxRequests caps gateway requests in flight; other pushers wait.
	MaxRequests int
	Log         *slog.Logger
	Metrics     Metrics
}

// Sender is the notifier and the pushers' delivery workers.
type Sender struct {
	store  Store
	rooms  Rooms
	rules  Rules
	stream Stream
	opt    Options
	now    func() time.Time

	mu      sync.Mutex
	started bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	workers map[PusherKey]*worker
	slots   chan struct{}
	badgeMu sync.Mutex
	// lastBadge is the unread count last sent to each pusher, so a read
	// that changes nothing sends nothing.
	lastBadge map[PusherKey]int
	events    eventCache
	// handled is, per pusher without a running worker, the last queue
	// position dealt with; removals carries such positions to the
	// remover.
	handled  map[PusherKey]int64
	removals chan int64
	// badgesAgain holds the pushers with a badge update in flight, true
	// when another read asked for one meanwhile.
	badgesAgain map[PusherKey]bool

	// streamMoved wakes the notifier; readers are users whose read
	// receipts may have changed their badge, for the badge loop.
	streamMoved chan struct{}
	readersMu   sync.Mutex
	readers     map[string]struct{}
	readersWake chan struct{}
}

// New returns a sender; Start runs it.
func New(store Store, rooms Rooms, rules Rules, stream Stream, opt Options) *Sender {
	if opt.GiveUpAfter <= 0 {
		opt.GiveUpAfter = DefaultGiveUpAfter
	}
	if opt.RequestTimeout <= 0 {
		opt.RequestTimeout = DefaultRequestTimeout
	}
	if opt.MaxRequests <= 0 {
		opt.MaxRequests = DefaultMaxRequests
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.HTTP == nil {
		opt.HTTP = http.DefaultClient
	}
	return &Sender{
		store: store, rooms: rooms, rules: rules, stream: stream, opt: opt, now: time.Now,
		workers: map[PusherKey]*worker{}, slots: make(chan struct{}, opt.MaxRequests),
		lastBadge: map[PusherKey]int{}, badgesAgain: map[PusherKey]bool{},
		handled: map[PusherKey]int64{}, removals: make(chan int64, removeBatch),
		streamMoved: make(chan struct{}, 1),
		readers:     map[string]struct{}{}, readersWake: make(chan struct{}, 1),
	}
}

// SetMetrics sets the delivery counters; call before Start.
func (s *Sender) SetMetrics(m Metrics) { s.opt.Metrics = m }

// QueueLengths counts the queued entries per pusher URL (for metrics).
func (s *Sender) QueueLengths(ctx context.Context) ([]GatewayQueue, error) {
	return s.store.QueueLengths(ctx)
}

// Start runs the notifier from its stored cursor, resumes every pusher
// with something queued, and runs the badge loop.
func (s *Sender) Start() error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return nil
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.started = true
	ctx := s.ctx
	s.mu.Unlock()
	cursor, err := s.store.Cursor(ctx)
	if err != nil {
		return fmt.Errorf("push sender: reading the cursor: %w", err)
	}
	keys, err := s.store.QueuedPushers(ctx)
	if err != nil {
		return fmt.Errorf("push sender: listing queued pushers: %w", err)
	}
	for _, k := range keys {
		s.wake(k)
	}
	s.wg.Add(3)
	go s.notify(ctx, cursor)
	go s.badges(ctx)
	go s.removeDone(ctx)
	retry.Signal(s.streamMoved)
	return nil
}

// Stop ends the notifier and the workers, interrupting requests in
// flight; what was not sent stays queued for the next Start.
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

// StreamAdvanced tells the notifier the stream moved (storage.Stream's
// OnAdvance): there may be new events. It only signals.
func (s *Sender) StreamAdvanced(int64) { retry.Signal(s.streamMoved) }

// UserRead tells the sender a user's read receipt or room data changed,
// so their badge may have: the badge loop queues an update. It only
// records.
func (s *Sender) UserRead(userID string) {
	s.readersMu.Lock()
	s.readers[userID] = struct{}{}
	s.readersMu.Unlock()
	retry.Signal(s.readersWake)
}

// badges queues a badge update for the pushers of each user UserRead
// named.
func (s *Sender) badges(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.readersWake:
		}
		s.readersMu.Lock()
		users := s.readers
		s.readers = map[string]struct{}{}
		s.readersMu.Unlock()
		for u := range users {
			keys, err := s.store.QueueBadge(ctx, u, s.now().UnixMilli())
			if err != nil {
				if ctx.Err() == nil {
					s.opt.Log.Warn("push sender: queueing a badge update", "user_id", u, "error", err)
				}
				continue
			}
			for _, k := range keys {
				s.wake(k)
			}
		}
	}
}
