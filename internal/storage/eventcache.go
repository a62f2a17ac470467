package storage

import (
	"container/list"
	"sync"

	"foyer/internal/rooms/matrixevents"
)

// parsedEvents caches parsed events by ID and redaction, so an event read
// by many syncs at once (a message fanned out to a busy room) is parsed
// once. Events are immutable once stored; a redaction changes the key.
var parsedEvents = newEventCache(20000)

type eventCache struct {
	mu      sync.Mutex
	max     int
	order   *list.List
	entries map[string]*list.Element
}

type cachedEvent struct {
	key string
	ev  matrixevents.Event
}

func newEventCache(max int) *eventCache {
	return &eventCache{max: max, order: list.New(), entries: map[string]*list.Element{}}
}

func (c *eventCache) get(key string) (matrixevents.Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*cachedEvent).ev, true
	}
	return matrixevents.Event{}, false
}

func (c *eventCache) put(key string, ev matrixevents.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.entries[key] = c.order.PushFront(&cachedEvent{key: key, ev: ev})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*cachedEvent).key)
	}
}
