package pushsender

import (
	"context"
	"time"

	"foyer/internal/push"
)

// worker is a pusher's running worker; wakeup says its queue has
// something new.
type worker struct{ wakeup chan struct{} }

// wake starts the pusher's worker, or tells the running one to look at
// its queue again. Before Start it does nothing: Start resumes queues.
func (s *Sender) wake(k PusherKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return
	}
	if w, ok := s.workers[k]; ok {
		signal(w.wakeup)
		return
	}
	w := &worker{wakeup: make(chan struct{}, 1)}
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
		if s.workers[k] == w {
			delete(s.workers, k)
		}
		s.mu.Unlock()
	}()
	// failing is set while the gateway keeps failing: entries older than
	// GiveUpAfter are then dropped without another try.
	failing := false
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		item, ok, err := s.store.Next(ctx, k)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.opt.Log.Error("push sender: reading a pusher's queue", "user_id", k.UserID, "app_id", k.AppID, "error", err)
			backoff = nextBackoff(backoff)
			if !sleepUnless(ctx, backoff, nil) {
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
			delete(s.workers, k)
			s.mu.Unlock()
			return
		}
		p, exists, err := s.store.Pusher(ctx, k)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = nextBackoff(backoff)
			if !sleepUnless(ctx, backoff, nil) {
				return
			}
			continue
		}
		if !exists {
			// Deleted (by its user, a logout, another user taking the
			// pushkey): nothing of its queue is sent.
			if err := s.store.DropQueue(ctx, k); err != nil && ctx.Err() == nil {
				s.opt.Log.Warn("push sender: dropping a deleted pusher's queue", "error", err)
			}
			return
		}
		gateway := gatewayHost(p)
		if item.IsBadge() {
			// A badge update waits for no one and no one waits for it:
			// it is sent beside the queue, once, and the next
			// notification carries the count anyway.
			if err := s.store.Remove(ctx, k, item.Position); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.opt.Log.Error("push sender: removing a badge update from the queue", "error", err)
				continue
			}
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
			case retry:
				failing = true
				if s.tooOld(item) {
					continue // given up on above
				}
				backoff = nextBackoff(backoff)
				s.count(Metrics.Retried, gateway)
				s.opt.Log.Info("push sender: the gateway failed; retrying later", "user_id", k.UserID, "app_id", k.AppID,
					"gateway", gateway, "retry_in", backoff.String(), "error", res.err)
				if !sleepUnless(ctx, backoff, nil) {
					return
				}
				continue
			}
			break
		}
		if ctx.Err() != nil {
			return
		}
		if err := s.store.Remove(ctx, k, item.Position); err != nil && ctx.Err() == nil {
			s.opt.Log.Error("push sender: removing a sent notification from the queue", "error", err)
		}
	}
}

// tooOld reports whether an entry was queued more than GiveUpAfter ago.
func (s *Sender) tooOld(item Queued) bool {
	return s.now().Sub(time.UnixMilli(item.CreatedTS)) > s.opt.GiveUpAfter
}

func nextBackoff(prev time.Duration) time.Duration {
	if prev <= 0 {
		return minBackoff
	}
	return min(prev*2, maxBackoff)
}

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
			case res.outcome == retry || res.outcome == refused:
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
