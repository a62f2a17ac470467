package rooms

import (
	"context"
	"sync"
)

// One sync response reads a user's membership history in a room several
// times: to filter the timeline, then to mark the timeline's and the
// state's events with unsigned.membership. A context made by
// WithHistoryCache keeps each history read, so a room costs one read.
// It is for one computation: a later one (a long-poll woken by a change)
// must start from a fresh context, or it would miss the change.

type historyCacheKey struct{}

type historyCache struct {
	mu        sync.Mutex
	histories map[[2]string]viewerHistory
}

// WithHistoryCache returns ctx with an empty cache of membership
// histories.
func WithHistoryCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, historyCacheKey{}, &historyCache{histories: map[[2]string]viewerHistory{}})
}

func historyCacheFrom(ctx context.Context) *historyCache {
	c, _ := ctx.Value(historyCacheKey{}).(*historyCache)
	return c
}

func (c *historyCache) get(roomID, userID string) (viewerHistory, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	vh, ok := c.histories[[2]string{roomID, userID}]
	return vh, ok
}

func (c *historyCache) put(roomID, userID string, vh viewerHistory) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.histories[[2]string{roomID, userID}] = vh
}
