package storage

import (
	"slices"
	"sync"
)

// keyCountCacheSize bounds how many devices' key counts are kept; past
// it the cache starts over (a few thousand bytes a device at most).
const keyCountCacheSize = 20000

// keyCountCache keeps each device's one-time key counts and unused
// fallback key types between syncs, which report them on every response
// although they change only when the device uploads keys or someone
// claims one. A generation guards against a read that raced a write
// storing what the write replaced: writers bump it after they commit.
type keyCountCache struct {
	mu         sync.Mutex
	generation uint64
	devices    map[[2]string]*deviceKeyCounts
}

type deviceKeyCounts struct {
	oneTime  map[string]int // nil until read
	fallback []string
	// readFallback is true once fallback was read (it may be empty).
	readFallback bool
}

// begin returns the generation a read starts at.
func (c *keyCountCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.generation
}

func (c *keyCountCache) oneTime(userID, deviceID string) (map[string]int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.devices[[2]string{userID, deviceID}]
	if d == nil || d.oneTime == nil {
		return nil, false
	}
	return clonedCounts(d.oneTime), true
}

func (c *keyCountCache) fallback(userID, deviceID string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.devices[[2]string{userID, deviceID}]
	if d == nil || !d.readFallback {
		return nil, false
	}
	return slices.Clone(d.fallback), true
}

// entry is the device's entry when no write happened since gen.
func (c *keyCountCache) entry(gen uint64, userID, deviceID string) *deviceKeyCounts {
	if c.generation != gen {
		return nil
	}
	if c.devices == nil || len(c.devices) >= keyCountCacheSize {
		c.devices = map[[2]string]*deviceKeyCounts{}
	}
	key := [2]string{userID, deviceID}
	d := c.devices[key]
	if d == nil {
		d = &deviceKeyCounts{}
		c.devices[key] = d
	}
	return d
}

func (c *keyCountCache) storeOneTime(gen uint64, userID, deviceID string, counts map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.entry(gen, userID, deviceID); d != nil {
		d.oneTime = clonedCounts(counts)
	}
}

func (c *keyCountCache) storeFallback(gen uint64, userID, deviceID string, types []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.entry(gen, userID, deviceID); d != nil {
		d.fallback, d.readFallback = slices.Clone(types), true
	}
}

// forgetDevice drops a device's counts after a write to its keys has
// committed.
func (c *keyCountCache) forgetDevice(userID, deviceID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	delete(c.devices, [2]string{userID, deviceID})
}

// forgetUser drops the counts of every device of a user (devices
// deleted, account deactivated or removed).
func (c *keyCountCache) forgetUser(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	for key := range c.devices {
		if key[0] == userID {
			delete(c.devices, key)
		}
	}
}

func clonedCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
