package pushsender

import (
	"foyer/internal/retry"

	"context"
	"time"

	"foyer/internal/push"
)

// worker is a pusher's running worker; wakeup says its queue has
// something new. handled is the last queue position it dealt with (only
// it reads and writes it while it runs; Sender.handled keeps it between
// workers).
type worker struct {
	wakeup  chan struct{}
	handled int64
}

// wake starts the pusher's worker, or tells the running one to look at
// its queue again. Before Start it does nothing: Start resumes queues.
func (s *Sender) wake(k PusherKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return
	}
	if w, ok := s.workers[k]; ok {
		retry.Signal(w.wakeup)
		return
	}
	w := &worker{wakeup: make(chan struct{}, 1), handled: s.handled[k]}
	s.workers[k] = w
	s.wg.Add(1)
	go s.work(s.ctx, k, w)
}

// work drains the pusher's queue in order, one entry at a time, then
// ends; a later wake starts another.
func (s *Sender) work(ctx context.Context, k PusherKey, w *worker) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.retireLocked(k, w)
		s.mu.Unlock()
	}()
	// failing is set while the gateway keeps failing: entries older than
	// GiveUpAfter are then dropped without another try.
	failing := false
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		item, ok, err := s.store.Next(ctx, k, w.handled)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.opt.Log.Error("push sender: reading a pusher's queue", "user_id", k.UserID, "app_id", k.AppID, "error", err)
			backoff = deliveryBackoff.Next(backoff)
			if !retry.Wait(ctx, backoff, nil) {
				return
			}
			continue
		}
		if !ok {
			s.mu.Lock()
			select {
			case <-w.wakeup:
				s.mu.Unlock()
				continue
			default:
			}
			s.retireLocked(k, w)
			s.mu.Unlock()
			return
		}
		if item.Pusher == nil {
			// Deleted (by its user, a logout, another user taking the
			// pushkey): nothing of its queue is sent.
			if err := s.store.DropQueue(ctx, k); err != nil && ctx.Err() == nil {
				s.opt.Log.Warn("push sender: dropping a deleted pusher's queue", "error", err)
			}
			return
		}
		p := *item.Pusher
		gateway := gatewayHost(p)
		if item.IsBadge() {
			// A badge update waits for no one and no one waits for it:
			// it is sent beside the queue, once, and the next
			// notification carries the count anyway.
			s.done(ctx, w, item.Position)
			s.sendBadge(ctx, p, gateway)
			continue
		}
		for ctx.Err() == nil {
			if failing && s.tooOld(item) {
				s.opt.Log.Warn("push sender: giving up on a notification its gateway kept failing",
					"user_id", k.UserID, "app_id", k.AppID, "event_id", item.EventID, "gateway", gateway)
				s.count(Metrics.Failed, gateway)
				break
			}
			res := s.deliver(ctx, p, item)
			if ctx.Err() != nil {
				return
			}
			switch res.outcome {
			case delivered:
				failing, backoff = false, 0
				if res.sent {
					s.count(Metrics.Sent, gateway)
				}
			case refused:
				failing, backoff = false, 0
				s.opt.Log.Warn("push sender: the gateway refused a notification; dropping it",
					"user_id", k.UserID, "app_id", k.AppID, "event_id", item.EventID, "gateway", gateway, "error", res.err)
				s.count(Metrics.Failed, gateway)
			case rejected:
				s.count(Metrics.Sent, gateway)
				s.opt.Log.Info("push sender: the gateway rejected the pushkey; deleting the pusher",
					"user_id", k.UserID, "app_id", k.AppID, "gateway", gateway)
				if err := s.store.DeletePusher(ctx, k); err != nil && ctx.Err() == nil {
					s.opt.Log.Error("push sender: deleting a rejected pusher", "error", err)
				}
				return
			case retryLater:
				failing = true
				if s.tooOld(item) {
					continue // given up on above
				}
				backoff = deliveryBackoff.Next(backoff)
				s.count(Metrics.Retried, gateway)
				s.opt.Log.Info("push sender: the gateway failed; retrying later", "user_id", k.UserID, "app_id", k.AppID,
					"gateway", gateway, "retry_in", backoff.String(), "error", res.err)
				// While the gateway fails the queue only grows: beyond
				// maxQueuedPerPusher the oldest entries go.
				if dropped, err := s.store.Trim(ctx, k, item.Position, maxQueuedPerPusher); err != nil && ctx.Err() == nil {
					s.opt.Log.Warn("push sender: trimming a failing pusher's queue", "error", err)
				} else if dropped > 0 {
					s.opt.Log.Warn("push sender: dropped the oldest notifications of a failing pusher", "user_id", k.UserID,
						"app_id", k.AppID, "gateway", gateway, "dropped", dropped)
					for range dropped {
						s.count(Metrics.Failed, gateway)
					}
				}
				if !retry.Wait(ctx, backoff, nil) {
					return
				}
				continue
			}
			break
		}
		if ctx.Err() != nil {
			return
		}
		s.done(ctx, w, item.Position)
	}
}

// retireLocked ends w's turn as k's worker, keeping how far it got for
// the next one; the caller holds s.mu.
func (s *Sender) retireLocked(k PusherKey, w *worker) {
	if s.workers[k] != w {
		return
	}
	delete(s.workers, k)
	s.handled[k] = max(s.handled[k], w.handled)
}

// done records an entry as dealt with (sent, given up on, refused), so
// the worker reads past it, and hands it to the remover, which deletes
// such entries in batches. A crash before the deletion sends the entry
// again: delivery is at least once, never lost.
func (s *Sender) done(ctx context.Context, w *worker, position int64) {
	w.handled = max(w.handled, position)
	select {
	case s.removals <- position:
	case <-ctx.Done():
	}
}

// removeDone deletes handled entries, gathering what arrives within
// removeEvery (or up to removeBatch) into one transaction; at Stop it
// deletes what is left.
func (s *Sender) removeDone(ctx context.Context) {
	defer s.wg.Done()
	var batch []int64
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		if err := s.store.Remove(ctx, batch); err != nil {
			// Left in the queue: sent again after a restart.
			s.opt.Log.Warn("push sender: removing sent notifications from the queue", "entries", len(batch), "error", err)
		}
		batch = batch[:0]
	}
	ticker := time.NewTicker(removeEvery)
	defer ticker.Stop()
	for {
		select {
		case pos := <-s.removals:
			batch = append(batch, pos)
			if len(batch) >= removeBatch {
				flush(ctx)
			}
		case <-ticker.C:
			flush(ctx)
		case <-ctx.Done():
		drain:
			for {
				select {
				case pos := <-s.removals:
					batch = append(batch, pos)
				default:
					break drain
				}
			}
			stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			flush(stopCtx)
			cancel()
			return
		}
	}
}

// tooOld reports whether an entry was queued more than GiveUpAfter ago.
func (s *Sender) tooOld(item Queued) bool {
	return s.now().Sub(time.UnixMilli(item.CreatedTS)) > s.opt.GiveUpAfter
}

// deliveryBackoff is the wait between a pusher's failed deliveries.
var deliveryBackoff = retry.Backoff{Min: time.Second, Max: time.Hour}

func (s *Sender) count(f func(Metrics, string), gateway string) {
	if s.opt.Metrics != nil {
		f(s.opt.Metrics, gateway)
	}
}

// sendBadge sends the pusher's badge in the background, one at a time per
// pusher: a read while one is in flight sends another after it. Called by
// the pusher's worker, so the sender's wait group is not empty.
func (s *Sender) sendBadge(ctx context.Context, p push.Pusher, gateway string) {
	k := PusherKey{p.UserID, p.AppID, p.PushKey}
	s.mu.Lock()
	if _, inFlight := s.badgesAgain[k]; inFlight {
		s.badgesAgain[k] = true
		s.mu.Unlock()
		return
	}
	s.badgesAgain[k] = false
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		for {
			res := s.deliver(ctx, p, Queued{})
			switch {
			case ctx.Err() != nil:
			case res.outcome == rejected:
				s.count(Metrics.Sent, gateway)
				if err := s.store.DeletePusher(ctx, k); err != nil && ctx.Err() == nil {
					s.opt.Log.Error("push sender: deleting a rejected pusher", "error", err)
				}
			case res.outcome == delivered && res.sent:
				s.count(Metrics.Sent, gateway)
			case res.outcome == retryLater || res.outcome == refused:
				s.count(Metrics.Failed, gateway)
				s.opt.Log.Info("push sender: a badge update failed; the next notification carries the count",
					"user_id", k.UserID, "app_id", k.AppID, "gateway", gateway, "error", res.err)
			}
			s.mu.Lock()
			again := s.badgesAgain[k] && ctx.Err() == nil
			if !again {
				delete(s.badgesAgain, k)
				s.mu.Unlock()
				return
			}
			s.badgesAgain[k] = false
			s.mu.Unlock()
		}
	}()
}
