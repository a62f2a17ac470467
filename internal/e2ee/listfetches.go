package e2ee

import (
	"context"
	"sync"
)

// listFetches shares one fetch of a user's device list among those who
// ask for it while it runs.
type listFetches struct {
	mu     sync.Mutex
	byUser map[string]*listFetch
}

type listFetch struct {
	done chan struct{}
	list RemoteDeviceList
	err  error
}

// do runs fetch for userID, or waits for the one already running (until
// ctx ends).
func (f *listFetches) do(ctx context.Context, userID string, fetch func() (RemoteDeviceList, error)) (RemoteDeviceList, error) {
	f.mu.Lock()
	if running, ok := f.byUser[userID]; ok {
		f.mu.Unlock()
		select {
		case <-running.done:
			return running.list, running.err
		case <-ctx.Done():
			return RemoteDeviceList{}, ctx.Err()
		}
	}
	mine := &listFetch{done: make(chan struct{})}
	f.byUser[userID] = mine
	f.mu.Unlock()
	mine.list, mine.err = fetch()
	f.mu.Lock()
	delete(f.byUser, userID)
	f.mu.Unlock()
	close(mine.done)
	return mine.list, mine.err
}
