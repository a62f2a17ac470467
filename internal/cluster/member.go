package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"foyer/internal/storage"
)

// WriterLease is the lease of the process that writes: today the only
// process serving the database.
const WriterLease = "writer"

// Defaults: a lease outlives five missed renewals, so a pause of a few
// seconds (a slow disk, a busy database) does not lose it, and a crashed
// holder's database is free within ten seconds.
const (
	DefaultLeaseTTL  = 10 * time.Second
	DefaultHeartbeat = 2 * time.Second
)

// ErrServedElsewhere is returned when another live process holds the
// writer lease.
var ErrServedElsewhere = errors.New("another Foyer process is serving this database")

// Options configure a Member.
type Options struct {
	Store      *storage.ClusterStore
	InstanceID string
	// Addresses are where this process listens, for other processes and
	// operators (read at each heartbeat: listeners open after Join).
	Addresses func() []string
	LeaseTTL  time.Duration
	Heartbeat time.Duration
	Now       func() time.Time
	Log       *slog.Logger
}

// Member is this process's place among those serving the database.
type Member struct {
	opts    Options
	started time.Time

	stop    chan struct{}
	done    chan struct{}
	running atomic.Bool
	once    sync.Once
}

// Join takes the writer lease for this process. A lease held by a
// process that stopped renewing it is waited out (at most one TTL);
// one that keeps being renewed means another process serves the
// database, and Join fails with ErrServedElsewhere naming it.
func Join(ctx context.Context, opts Options) (*Member, error) {
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
	m := &Member{opts: opts, started: opts.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	deadline := m.started.Add(opts.LeaseTTL + opts.Heartbeat)
	// A holder seen to beat again while we wait is alive: no use waiting
	// for its lease to run out.
	firstBeat := map[string]time.Time{}
	for {
		now := opts.Now()
		l, err := opts.Store.TakeLease(ctx, WriterLease, opts.InstanceID, now, now.Add(opts.LeaseTTL))
		if err != nil {
			return nil, err
		}
		if l.Holder == opts.InstanceID {
			break
		}
		beat := m.lastHeartbeat(ctx, l.Holder)
		if first, seen := firstBeat[l.Holder]; !seen {
			firstBeat[l.Holder] = beat
		} else if beat.After(first) {
			return nil, m.servedElsewhere(ctx, l)
		}
		if now.After(deadline) {
			return nil, m.servedElsewhere(ctx, l)
		}
		// Wait for the holder's lease to run out, or to be renewed.
		wait := min(max(l.Expires.Sub(now)+50*time.Millisecond, 50*time.Millisecond), opts.Heartbeat/4)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := m.beat(ctx); err != nil {
		_ = opts.Store.ReleaseLease(ctx, WriterLease, opts.InstanceID)
		return nil, err
	}
	return m, nil
}

// lastHeartbeat is when instance last beat (zero if never).
func (m *Member) lastHeartbeat(ctx context.Context, instance string) time.Time {
	p, ok, err := m.opts.Store.Process(ctx, instance)
	if err != nil || !ok {
		return time.Time{}
	}
	return p.Heartbeat
}

func (m *Member) servedElsewhere(ctx context.Context, l storage.Lease) error {
	who := "instance " + l.Holder
	if p, ok, _ := m.opts.Store.Process(ctx, l.Holder); ok {
		who = fmt.Sprintf("instance %s on %s, process %d, listening on %s", p.InstanceID, p.Hostname, p.PID, strings.Join(p.Addresses, " "))
	}
	return fmt.Errorf("%w (%s): one process serves a database for now; stop it first (see docs/scaling.md)", ErrServedElsewhere, who)
}

func (m *Member) beat(ctx context.Context) error {
	host, _ := os.Hostname()
	return m.opts.Store.Heartbeat(ctx, storage.ClusterProcess{InstanceID: m.opts.InstanceID, Hostname: host, PID: int64(os.Getpid()),
		Addresses: m.opts.Addresses(), Started: m.started, Heartbeat: m.opts.Now()})
}

// Start renews the lease and the heartbeat until Stop. lost is called
// once if the lease is lost (another process took it, or it could not be
// renewed before it ran out): the process must then stop writing.
func (m *Member) Start(lost func(error)) {
	m.running.Store(true)
	go m.run(lost)
}

func (m *Member) run(lost func(error)) {
	defer close(m.done)
	t := time.NewTicker(m.opts.Heartbeat)
	defer t.Stop()
	heldUntil := m.started.Add(m.opts.LeaseTTL)
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.opts.Heartbeat)
		now := m.opts.Now()
		l, err := m.opts.Store.TakeLease(ctx, WriterLease, m.opts.InstanceID, now, now.Add(m.opts.LeaseTTL))
		if err == nil && l.Holder != m.opts.InstanceID {
			err = fmt.Errorf("%w: instance %s took the writer lease", ErrServedElsewhere, l.Holder)
			cancel()
			lost(err)
			return
		}
		if err == nil {
			heldUntil = l.Expires
			err = m.beat(ctx)
		}
		cancel()
		if err != nil {
			m.opts.Log.Warn("renewing the writer lease failed", "err", err, "held_until", heldUntil)
			if !m.opts.Now().Before(heldUntil) {
				lost(fmt.Errorf("the writer lease ran out while it could not be renewed: %w", err))
				return
			}
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
		_ = m.opts.Store.ReleaseLease(ctx, WriterLease, m.opts.InstanceID)
		_ = m.opts.Store.ForgetProcess(ctx, m.opts.InstanceID)
	})
}
