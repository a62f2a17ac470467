package clientapi

import (
	"sync"

	"foyer/internal/clientsync"
)

// parsedFilters keeps uploaded filters parsed, by user and filter ID, so a
// client that syncs with a filter ID (Element does, on every request)
// does not read and parse it each time. Uploaded filters never change,
// and sync only reads a Filter, so one parsed copy is shared.
type parsedFilters struct {
	mu      sync.Mutex
	filters map[string]clientsync.Filter
}

const maxParsedFilters = 10000

func (c *parsedFilters) get(userID, filterID string) (clientsync.Filter, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.filters[userID+"|"+filterID]
	return f, ok
}

func (c *parsedFilters) put(userID, filterID string, f clientsync.Filter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.filters == nil || len(c.filters) >= maxParsedFilters {
		c.filters = map[string]clientsync.Filter{}
	}
	c.filters[userID+"|"+filterID] = f
}
