package guest

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Expiry. A guest inactive for longer than guest_access.expire_after
// (users.last_seen_ts, which the auth middleware moves at most once a
// minute per device) is removed in two steps:
//
//  1. Expire claims it — deactivated (its tokens stop working at once)
//     and queued to leave its rooms, in one transaction — then deletes
//     its devices one by one through the accounts service, so their keys
//     and tokens go with them. Only kind=guest accounts are candidates:
//     named guests and upgraded users are never expired.
//  2. LeavePending makes each queued guest leave every room it is
//     joined to, invited to or knocking on, each by its own leave event
//     through the room service (as G-20 does).
//
// Step 2 writes room events, which only the serving process may do (it
// owns the rooms' cached state and the stream), so `foyer guests expire`
// does step 1 and the server's job finishes step 2 within
// expire_interval (or at its next start).

const expiryBatch = 200

// Expire deactivates every guest inactive for longer than expire_after
// and returns how many it deactivated. It does not leave rooms (see
// LeavePending); it is safe beside a running server.
func (s *Service) Expire(ctx context.Context) (int, error) {
	after := s.opts.Access.ExpireAfter
	if after <= 0 {
		return 0, nil
	}
	cutoff := s.now().Add(-after).UnixMilli()
	total := 0
	for {
		ids, err := s.store.ExpirableGuests(ctx, cutoff, expiryBatch)
		if err != nil {
			return total, err
		}
		n := 0
		for _, id := range ids {
			ok, err := s.claimAndDeactivate(ctx, id, cutoff)
			if err != nil {
				return total, err
			}
			if ok {
				n++
				s.log.InfoContext(ctx, "guest expired", "user_id", id)
			}
		}
		total += n
		if len(ids) < expiryBatch || n == 0 {
			break
		}
	}
	s.hooksMu.Lock()
	hook := s.onExpired
	s.hooksMu.Unlock()
	if hook != nil && total > 0 {
		hook(total)
	}
	return total, nil
}

// claimAndDeactivate is step 1 for one guest.
func (s *Service) claimAndDeactivate(ctx context.Context, userID string, lastSeenBefore int64) (bool, error) {
	ok, err := s.store.ClaimGuest(ctx, userID, lastSeenBefore, s.nowMS())
	if err != nil || !ok {
		return false, err
	}
	// Deactivation removes, in one transaction, the devices and all that
	// is bound to them (tokens, keys, to-device messages, pushers) and the
	// profile. A Stop does not interrupt one guest half-way.
	return true, s.accounts.Deactivate(context.WithoutCancel(ctx), userID)
}

// LeavePending makes every claimed guest leave its rooms (step 2). Only
// the serving process calls it.
func (s *Service) LeavePending(ctx context.Context) error {
	for {
		ids, err := s.store.PendingLeaves(ctx, expiryBatch)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.leaveAll(ctx, id, "guest account expired", false); err != nil {
				return err
			}
		}
		if len(ids) < expiryBatch {
			return nil
		}
	}
}

// leaveAll leaves every room of one guest and takes it off the queue.
// A room that refuses is logged and skipped, so one bad room cannot
// keep a guest in the queue for ever. Unless the caller has just done
// it, it first repeats step 1's clean-up (idempotent), in case the
// process that claimed the guest stopped before finishing it.
func (s *Service) leaveAll(ctx context.Context, userID, reason string, deactivated bool) error {
	if !deactivated {
		if err := s.accounts.Deactivate(ctx, userID); err != nil {
			return err
		}
	}
	rooms, err := s.rooms.MemberRoomsToLeave(ctx, userID)
	if err != nil {
		return err
	}
	for _, roomID := range rooms {
		if err := s.rooms.Leave(ctx, roomID, userID, reason); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.WarnContext(ctx, "a removed guest could not leave a room", "user_id", userID, "room_id", roomID, "err", err)
		}
	}
	return s.store.DonePendingLeave(ctx, userID)
}

// RunExpiry is one full expiry run: pending leaves, expiry, and the
// leaves of the guests just expired. It returns how many expired.
func (s *Service) RunExpiry(ctx context.Context) (int, error) {
	n, err := s.Expire(ctx)
	return n, errors.Join(err, s.LeavePending(ctx))
}

// runExpiry is the job's tick.
func (s *Service) runExpiry(ctx context.Context) {
	if _, err := s.RunExpiry(ctx); err != nil && ctx.Err() == nil {
		s.log.ErrorContext(ctx, "guest expiry failed", "err", err)
	}
}

// DeactivateGuest removes one live guest now, whatever its activity: the
// admin API's deactivate. It returns ErrNotGuest for any other account.
func (s *Service) DeactivateGuest(ctx context.Context, userID string) error {
	ok, err := s.claimAndDeactivate(ctx, userID, 0)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotGuest
	}
	s.log.InfoContext(ctx, "guest deactivated by an admin", "user_id", userID)
	return s.leaveAll(ctx, userID, "guest account expired", true)
}

// Job runs a function now and then every interval until stopped.
type Job struct {
	interval time.Duration
	run      func(ctx context.Context)

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewJob returns a stopped job.
func NewJob(interval time.Duration, run func(ctx context.Context)) *Job {
	if interval <= 0 {
		interval = 10 * time.Minute
	}
	return &Job{interval: interval, run: run}
}

// Start begins the runs; a second Start does nothing.
func (j *Job) Start() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	j.cancel, j.done = cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		t := time.NewTicker(j.interval)
		defer t.Stop()
		for {
			j.run(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}(j.done)
}

// Stop cancels a run in progress and waits for it. It is safe without
// Start and more than once; the job can be started again afterwards.
func (j *Job) Stop() {
	if j == nil {
		return
	}
	j.mu.Lock()
	cancel, done := j.cancel, j.done
	j.cancel, j.done = nil, nil
	j.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}
