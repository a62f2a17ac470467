package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"foyer/internal/storage"
)

// WriterLease is the lease of the process that writes: the one that
// serves requests itself; the others forward them to it.
const WriterLease = "writer"

// Defaults: a lease outlives five missed renewals, so a pause of a few
// seconds (a slow disk, a busy database) does not lose it, and a crashed
// holder's database is free within ten seconds.
const (
	DefaultLeaseTTL  = 10 * time.Second
	DefaultHeartbeat = 2 * time.Second
)

// ErrServedElsewhere is returned when another process took this
// process's writer lease.
var ErrServedElsewhere = errors.New("another Foyer process is serving this database")

// Options configure a Member.
type Options struct {
	Store      *storage.ClusterStore
	InstanceID string
	// Addresses are where this process listens for clients, for
	// operators; ClusterAddress where it takes forwarded requests, for
	// the other processes (both read at each heartbeat: listeners open
	// after Enter).
	Addresses      func() []string
	ClusterAddress func() string
	LeaseTTL       time.Duration
	Heartbeat      time.Duration
	Now            func() time.Time
	Log            *slog.Logger
}

// Member is this process's place among those serving the database: the
// writer (holding the writer lease) or a follower of it.
type Member struct {
	opts    Options
	started time.Time
	writing atomic.Bool
	// writer is the cluster address of the lease holder as last read
	// (empty: none known, or this process).
	writer  atomic.Pointer[string]
	refresh chan struct{}

	stop    chan struct{}
	done    chan struct{}
	running atomic.Bool
	once    sync.Once
}

// Enter records this process among those serving the database and takes
// the writer lease if it is free, expired, or this instance's own (a
// restart on the same data dir). Otherwise the process follows the
// holder, and Start's loop takes the lease when the holder stops
// renewing it.
func Enter(ctx context.Context, opts Options) (*Member, error) {
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Addresses == nil {
		opts.Addresses = func() []string { return nil }
	}
	if opts.ClusterAddress == nil {
		opts.ClusterAddress = func() string { return "" }
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	m := &Member{opts: opts, started: opts.Now(), refresh: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	m.writer.Store(new(string))
	now := opts.Now()
	l, err := opts.Store.TakeLease(ctx, WriterLease, opts.InstanceID, now, now.Add(opts.LeaseTTL))
	if err != nil {
		return nil, err
	}
	if l.Holder == opts.InstanceID {
		m.writing.Store(true)
	} else {
		m.follow(ctx, l)
	}
	if err := m.beat(ctx); err != nil {
		if m.writing.Load() {
			_ = opts.Store.ReleaseLease(ctx, WriterLease, opts.InstanceID)
		}
		return nil, err
	}
	return m, nil
}

// Writing reports whether this process holds the writer lease.
func (m *Member) Writing() bool { return m.writing.Load() }

// Writer is the cluster address of the process holding the writer lease,
// as last read; false when none is known or this process holds it.
func (m *Member) Writer() (string, bool) {
	a := *m.writer.Load()
	return a, a != "" && !m.writing.Load()
}

// RefreshWriter asks for the writer's address to be read again soon (a
// forwarded request could not reach it, or none is known yet).
func (m *Member) RefreshWriter() {
	select {
	case m.refresh <- struct{}{}:
	default:
	}
}

// AwaitWriter is Writer, waiting up to wait for a writer to be known
// (a process that just started, or a changeover).
func (m *Member) AwaitWriter(ctx context.Context, wait time.Duration) (string, bool) {
	if a, ok := m.Writer(); ok || m.writing.Load() {
		return a, ok
	}
	deadline := time.Now().Add(wait)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for time.Now().Before(deadline) {
		m.RefreshWriter()
		select {
		case <-ctx.Done():
			return "", false
		case <-t.C:
		}
		if a, ok := m.Writer(); ok {
			return a, true
		}
	}
	return "", false
}

// follow records who holds lease l and where it takes requests.
func (m *Member) follow(ctx context.Context, l storage.Lease) {
	addr := ""
	if p, ok, err := m.opts.Store.Process(ctx, l.Holder); err == nil && ok {
		addr = p.ClusterAddress
	}
	if old := *m.writer.Load(); old != addr {
		m.opts.Log.Info("following the writer", "writer", l.Holder, "address", addr)
		m.writer.Store(&addr)
	}
}

func (m *Member) beat(ctx context.Context) error {
	host, _ := os.Hostname()
	return m.opts.Store.Heartbeat(ctx, storage.ClusterProcess{InstanceID: m.opts.InstanceID, Hostname: host, PID: int64(os.Getpid()),
		Addresses: m.opts.Addresses(), ClusterAddress: m.opts.ClusterAddress(), Started: m.started, Heartbeat: m.opts.Now()})
}

// Start beats the heartbeat until Stop; a writer renews its lease, a
// follower tries to take it (it is taken once its holder stops renewing
// it). promoted is called once, in its own goroutine, when a follower
// has taken the lease: the process must then start writing. lost is
// called once if a writer loses the lease (another process took it, or
// it could not be renewed before it ran out): the process must then stop.
func (m *Member) Start(promoted func(), lost func(error)) {
	m.running.Store(true)
	go m.run(promoted, lost)
}

func (m *Member) run(promoted func(), lost func(error)) {
	defer close(m.done)
	t := time.NewTicker(m.opts.Heartbeat)
	defer t.Stop()
	heldUntil := m.started.Add(m.opts.LeaseTTL)
	// The first round is at once: the listeners opened since Enter, and
	// the heartbeat publishes their addresses.
	first := true
	for {
		if !first {
			select {
			case <-m.stop:
				return
			case <-t.C:
			case <-m.refresh:
			}
		}
		first = false
		ctx, cancel := context.WithTimeout(context.Background(), m.opts.Heartbeat)
		now := m.opts.Now()
		l, err := m.opts.Store.TakeLease(ctx, WriterLease, m.opts.InstanceID, now, now.Add(m.opts.LeaseTTL))
		switch {
		case err != nil:
		case m.writing.Load() && l.Holder != m.opts.InstanceID:
			cancel()
			lost(fmt.Errorf("%w: instance %s took the writer lease", ErrServedElsewhere, l.Holder))
			return
		case l.Holder == m.opts.InstanceID:
			heldUntil = l.Expires
			if !m.writing.Load() {
				m.opts.Log.Info("took the writer lease: this process writes now")
				m.writing.Store(true)
				empty := ""
				m.writer.Store(&empty)
				go promoted()
			}
		default:
			m.follow(ctx, l)
		}
		if err == nil {
			err = m.beat(ctx)
		}
		cancel()
		if err != nil && m.writing.Load() {
			m.opts.Log.Warn("renewing the writer lease failed", "err", err, "held_until", heldUntil)
			if !m.opts.Now().Before(heldUntil) {
				lost(fmt.Errorf("the writer lease ran out while it could not be renewed: %w", err))
				return
			}
		} else if err != nil {
			m.opts.Log.Warn("reading the writer lease failed", "err", err)
		}
	}
}

// Stop ends the renewals, gives the lease up and leaves the process list,
// so another process may take over at once.
func (m *Member) Stop(ctx context.Context) {
	m.once.Do(func() {
		close(m.stop)
		if m.running.Load() {
			select {
			case <-m.done:
			case <-ctx.Done():
			}
		}
		if m.writing.Load() {
			_ = m.opts.Store.ReleaseLease(ctx, WriterLease, m.opts.InstanceID)
		}
		_ = m.opts.Store.ForgetProcess(ctx, m.opts.InstanceID)
	})
}
