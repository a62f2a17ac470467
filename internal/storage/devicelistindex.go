package storage

import (
	"context"
	"sync"
)

// deviceListIndex knows the newest position in the device-list log, so
// a sync can tell without a query that no one's devices changed since
// its token: every entry is written through recordDeviceListChange,
// which records its position here before it commits.
type deviceListIndex struct {
	mu     sync.Mutex
	loaded bool
	newest int64
}

func (x *deviceListIndex) record(pos int64) {
	x.mu.Lock()
	x.newest = max(x.newest, pos)
	x.mu.Unlock()
}

// DeviceListsMovedAfter is false only when the device-list log holds no
// entry after since.
func (s *E2EEStore) DeviceListsMovedAfter(ctx context.Context, since int64) (bool, error) {
	x := &s.db.deviceLists
	x.mu.Lock()
	loaded, newest := x.loaded, x.newest
	x.mu.Unlock()
	if !loaded {
		// Entries written before this process started: read once.
		var stored int64
		if err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) FROM device_list_changes`).Scan(&stored); err != nil {
			return true, err
		}
		x.mu.Lock()
		x.newest = max(x.newest, stored)
		x.loaded = true
		newest = x.newest
		x.mu.Unlock()
	}
	return newest > since, nil
}
