package clientsync

import (
	"context"
	"runtime"
)

// Initial and full-state syncs read whole rooms' state and build large
// answers: a thousand clients starting together would hold a thousand
// of them in memory at once. They take turns in slots, a few per core;
// the CPU is the limit anyway, so the wait costs no throughput.
func newFullSyncSlots() chan struct{} {
	return make(chan struct{}, max(4, 2*runtime.GOMAXPROCS(0)))
}

// computeFull computes an initial or full-state sync in a slot.
func (s *Service) computeFull(ctx context.Context, req *Request) (*Response, error) {
	select {
	case s.fullSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.fullSlots }()
	return s.compute(ctx, req, nil)
}
