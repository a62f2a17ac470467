package pushsender

import (
	"sync"
	"time"
)

// An event notifies many pushers at once (every member of a busy room):
// its deliveries share one read of it, for a few seconds, so that a
// redaction soon after is still seen by what is sent later.
const (
	eventCacheFor  = 5 * time.Second
	maxEventsCache = 1024
)

type cachedEvent struct {
	ev pushedEvent
	at time.Time
}

type eventCache struct {
	mu     sync.Mutex
	events map[string]cachedEvent
}

func (c *eventCache) get(eventID string, now time.Time) (pushedEvent, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.events[eventID]
	if !ok || now.Sub(e.at) > eventCacheFor {
		return pushedEvent{}, false
	}
	return e.ev, true
}

func (c *eventCache) put(eventID string, ev pushedEvent, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.events == nil || len(c.events) >= maxEventsCache {
		c.events = map[string]cachedEvent{}
	}
	c.events[eventID] = cachedEvent{ev, now}
}
