// Package retry is what the outbound queues (federation, push gateways,
// application services) share between attempts: the doubling backoff, a
// wait that stops with its context or when woken early, and the wake-up
// itself.
package retry

import (
	"context"
	"time"
)

// Backoff doubles the wait after each failure, from Min up to Max.
type Backoff struct {
	Min, Max time.Duration
}

// Next is the wait after prev (0: none yet, so Min).
func (b Backoff) Next(prev time.Duration) time.Duration {
	if prev <= 0 {
		return b.Min
	}
	return min(prev*2, b.Max)
}

// Wait waits d, or less when early is signalled (a nil channel never
// is). It reports false when ctx ended first.
func Wait(ctx context.Context, d time.Duration, early <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-early:
		return true
	case <-ctx.Done():
		return false
	}
}

// Signal wakes whoever waits on ch (a channel with a buffer of one)
// without blocking: a wake-up already pending stands for both.
func Signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
