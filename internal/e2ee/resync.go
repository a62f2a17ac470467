package e2ee

import (
	"context"
	"sync"
	"time"
)

const (
	// maxConcurrentResyncs bounds the remote device lists fetched at once
	// in the background.
	maxConcurrentResyncs = 4
	// maxPendingResyncs bounds those waiting: beyond it a list just stays
	// stale, and the next query of it fetches it.
	maxPendingResyncs = 1000
	// resyncTimeout bounds one background fetch.
	resyncTimeout = 30 * time.Second
)

// resyncer fetches stale remote device lists again in the background,
// one fetch per user at a time: a gap seen while a fetch runs asks for
// one more after it.
type resyncer struct {
	mu sync.Mutex
	// pending holds the users waiting or being fetched; true asks for
	// one more fetch once the running one ends.
	pending map[string]bool
	slots   chan struct{}
}

// scheduleResync fetches userID's list again in the background, unless a
// fetch is already waiting or too many are. The transaction that saw the
// gap does not wait for it. It reports false when too many are waiting:
// then nothing will fetch the list until a client asks for it.
func (s *Service) scheduleResync(userID string) bool {
	r := &s.fed.resync
	r.mu.Lock()
	if again, ok := r.pending[userID]; ok {
		if !again {
			r.pending[userID] = true
		}
		r.mu.Unlock()
		return true
	}
	if len(r.pending) >= maxPendingResyncs {
		r.mu.Unlock()
		return false
	}
	r.pending[userID] = false
	r.mu.Unlock()
	s.inBackground(maxPendingResyncs*resyncTimeout, func(ctx context.Context) {
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-r.slots }()
		for {
			fetchCtx, cancel := context.WithTimeout(ctx, resyncTimeout)
			if _, err := s.fetchDeviceList(fetchCtx, userID); err != nil && ctx.Err() == nil {
				// The list stays stale (or uncached): local clients are
				// told it changed, and their next query fetches it.
				s.log.InfoContext(ctx, "fetching a remote device list again", "user_id", userID, "err", err)
				s.announceUnfetchedChange(ctx, userID)
			}
			cancel()
			r.mu.Lock()
			if r.pending[userID] {
				r.pending[userID] = false
				r.mu.Unlock()
				continue
			}
			delete(r.pending, userID)
			r.mu.Unlock()
			return
		}
	})
	return true
}

// announceUnfetchedChange puts userID in room-mates' device_lists.changed
// when their server told of a change this server could not fetch.
func (s *Service) announceUnfetchedChange(ctx context.Context, userID string) {
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "recording a remote device-list change", "user_id", userID, "err", err)
		return
	}
	err = s.fed.store.RecordDeviceListChange(ctx, userID, pos)
	done()
	if err != nil {
		s.log.WarnContext(ctx, "recording a remote device-list change", "user_id", userID, "err", err)
		return
	}
	s.wakeMates(ctx, userID, pos)
}
