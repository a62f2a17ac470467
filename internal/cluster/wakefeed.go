package cluster

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"foyer/internal/clientsync"
)

// The wake feed carries the writer's wakes of long-polls to the other
// processes, through PostgreSQL's LISTEN/NOTIFY: a long-poll a follower
// holds wakes within milliseconds of the commit that concerns it.
const wakeChannel = "foyer_wakes"

// maxWakePayload keeps a notification under PostgreSQL's 8000-byte limit.
const maxWakePayload = 7000

// wake is one notification: users and rooms whose long-polls should look
// again, with the writer's number of the (latest) wake it carries; All
// wakes every long-poll.
type wake struct {
	Seq   int64    `json:"s"`
	Users []string `json:"u,omitempty"`
	Rooms []string `json:"r,omitempty"`
	All   bool     `json:"all,omitempty"`
}

// WakePublisher sends the writer's wakes to the feed, batched: one
// notification carries what was woken while the previous one was sent.
type WakePublisher struct {
	db  *sql.DB
	log *slog.Logger

	mu      sync.Mutex
	pending wake
	// lastSeq is the number of the last notification sent: numbers only
	// grow along the feed, even when wakes numbered out of order
	// (concurrent wakers) are sent in separate notifications.
	lastSeq  int64
	queued   int // names pending
	overrun  bool
	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// maxPendingNames bounds what waits to be published; beyond it the next
// notification wakes everyone instead.
const maxPendingNames = 100_000

// NewWakePublisher publishes through db until Stop.
func NewWakePublisher(db *sql.DB, log *slog.Logger) *WakePublisher {
	p := &WakePublisher{db: db, log: log, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// Publish queues a wake (clientsync.Wakeups.OnWake); it never blocks.
func (p *WakePublisher) Publish(seq int64, users, rooms []string) {
	p.mu.Lock()
	p.pending.Seq = max(p.pending.Seq, seq)
	if p.queued+len(users)+len(rooms) > maxPendingNames {
		p.overrun = true
	} else {
		p.pending.Users = append(p.pending.Users, users...)
		p.pending.Rooms = append(p.pending.Rooms, rooms...)
		p.queued += len(users) + len(rooms)
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Stop sends what is pending and stops; it may be called more than once.
func (p *WakePublisher) Stop() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

func (p *WakePublisher) run() {
	defer close(p.done)
	for {
		select {
		case <-p.kick:
		case <-p.stop:
			p.flush()
			return
		}
		p.flush()
	}
}

func (p *WakePublisher) flush() {
	p.mu.Lock()
	w, overrun := p.pending, p.overrun
	p.pending, p.queued, p.overrun = wake{}, 0, false
	w.Seq = max(w.Seq, p.lastSeq)
	p.lastSeq = w.Seq
	p.mu.Unlock()
	if w.Seq == 0 && len(w.Users) == 0 && len(w.Rooms) == 0 && !overrun {
		return
	}
	var batches []wake
	if overrun {
		batches = []wake{{Seq: w.Seq, All: true}}
	} else {
		batches = splitWake(w)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, b := range batches {
		payload, _ := json.Marshal(b)
		if _, err := p.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, wakeChannel, string(payload)); err != nil {
			// Followers poll while they cannot hear the feed, but a
			// lost notification on a live feed would leave their
			// long-polls asleep: the next one wakes everyone.
			p.log.Warn("publishing wakes to other processes failed", "err", err)
			p.mu.Lock()
			p.overrun = true
			p.mu.Unlock()
			return
		}
	}
}

// splitWake cuts w into notifications that fit PostgreSQL's limit, each
// with w's position; names are de-duplicated.
func splitWake(w wake) []wake {
	slices.Sort(w.Users)
	slices.Sort(w.Rooms)
	users, rooms := slices.Compact(w.Users), slices.Compact(w.Rooms)
	var out []wake
	cur := wake{Seq: w.Seq}
	size := 40
	add := func(name string, room bool) {
		if size+len(name)+4 > maxWakePayload && (len(cur.Users)+len(cur.Rooms)) > 0 {
			out = append(out, cur)
			cur, size = wake{Seq: w.Seq}, 40
		}
		if room {
			cur.Rooms = append(cur.Rooms, name)
		} else {
			cur.Users = append(cur.Users, name)
		}
		size += len(name) + 4
	}
	for _, u := range users {
		add(u, false)
	}
	for _, r := range rooms {
		add(r, true)
	}
	return append(out, cur)
}

// WakeFeed is a follower's end of the feed: it wakes the long-polls the
// follower holds, and remembers recent wakes so that a long-poll that
// registers late can tell whether it missed one (WokenAfter). While the
// feed is down it wakes every long-poll each second, so they ask the
// writer again: slower, never stuck.
type WakeFeed struct {
	url      string
	notifier *clientsync.Notifier
	log      *slog.Logger

	mu        sync.Mutex
	recent    []wake // ring of the last maxRecentWakes
	next      int
	evicted   int64 // highest position among wakes dropped from recent
	connected bool

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// maxRecentWakes is how many wakes WokenAfter can look back over; an
// older one counts as a wake.
const maxRecentWakes = 4096

// pollWhileDown is how often every long-poll looks again while the feed
// is down.
const pollWhileDown = time.Second

// StartWakeFeed listens on the database at databaseURL and wakes
// notifier's waiters until Stop.
func StartWakeFeed(databaseURL string, notifier *clientsync.Notifier, log *slog.Logger) *WakeFeed {
	f := &WakeFeed{url: databaseURL, notifier: notifier, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go f.run()
	return f
}

// Stop ends the feed; it may be called more than once.
func (f *WakeFeed) Stop() {
	f.stopOnce.Do(func() { close(f.stop) })
	<-f.done
}

// Connected reports whether the feed is listening now.
func (f *WakeFeed) Connected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connected
}

// WokenAfter reports whether a wake of userID or one of rooms, at a
// position above pos, may have come already.
func (f *WakeFeed) WokenAfter(pos int64, userID string, rooms []string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.evicted > pos {
		return true
	}
	// Newest first: numbers only grow along the feed, so the scan stops
	// at the first wake the answer already covered.
	var roomSet map[string]bool
	for i := range len(f.recent) {
		w := f.recent[(f.next-1-i+2*len(f.recent))%len(f.recent)]
		if w.Seq <= pos {
			break
		}
		if w.All || slices.Contains(w.Users, userID) {
			return true
		}
		if roomSet == nil && len(w.Rooms) > 0 {
			roomSet = make(map[string]bool, len(rooms))
			for _, r := range rooms {
				roomSet[r] = true
			}
		}
		for _, r := range w.Rooms {
			if roomSet[r] {
				return true
			}
		}
	}
	return false
}

func (f *WakeFeed) record(w wake) {
	f.mu.Lock()
	if len(f.recent) < maxRecentWakes {
		f.recent = append(f.recent, w)
		f.next = len(f.recent) % maxRecentWakes
	} else {
		f.evicted = max(f.evicted, f.recent[f.next].Seq)
		f.recent[f.next] = w
		f.next = (f.next + 1) % maxRecentWakes
	}
	f.mu.Unlock()
	if w.All {
		f.notifier.WakeAll()
	} else {
		f.notifier.Wake(w.Users, w.Rooms)
	}
}

func (f *WakeFeed) setConnected(c bool) {
	f.mu.Lock()
	f.connected = c
	f.mu.Unlock()
}

func (f *WakeFeed) run() {
	defer close(f.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-f.stop
		cancel()
	}()
	// While down: every long-poll looks again each second.
	go func() {
		t := time.NewTicker(pollWhileDown)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !f.Connected() {
					f.notifier.WakeAll()
				}
			}
		}
	}()
	for ctx.Err() == nil {
		err := f.listen(ctx)
		f.setConnected(false)
		if ctx.Err() != nil {
			return
		}
		f.log.Warn("the wake feed from the writer was lost; long-polls here look again each second until it is back", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pollWhileDown):
		}
	}
}

func (f *WakeFeed) listen(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.Connect(cctx, f.url)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+wakeChannel); err != nil {
		return err
	}
	f.setConnected(true)
	// Wakes sent while it was down are lost: everyone looks again.
	f.notifier.WakeAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var w wake
		if err := json.Unmarshal([]byte(n.Payload), &w); err != nil {
			w = wake{All: true}
		}
		f.record(w)
	}
}
