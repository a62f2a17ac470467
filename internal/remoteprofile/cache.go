// Package remoteprofile looks up the profiles of other servers' users
// over federation (/query/profile) and keeps the answers briefly in a
// bounded memory cache, so a client showing a member list does not send
// one request per member each time.
package remoteprofile

import (
	"context"
	"sync"
	"time"

	"foyer/internal/federationclient"
	"foyer/internal/rooms/matrixevents"
)

// Source asks a user's server for the profile (federationclient.Client).
type Source interface {
	QueryProfile(ctx context.Context, destination, userID string) (federationclient.Profile, error)
}

// Defaults of Options.
const (
	DefaultTTL        = time.Minute
	DefaultMaxEntries = 10000
	DefaultTimeout    = 10 * time.Second
)

// Options configure a Cache.
type Options struct {
	// TTL is how long an answer (a profile or "no such user") is kept.
	TTL time.Duration
	// MaxEntries bounds the cache; when it is full the entry closest to
	// expiry makes room.
	MaxEntries int
	// Timeout bounds one lookup, however long the client would wait.
	Timeout time.Duration
}

type entry struct {
	profile federationclient.Profile
	// err is a remote "not found", kept like a profile.
	err     error
	expires time.Time
}

// Cache is the remote profile lookup with its cache.
type Cache struct {
	src Source
	opt Options
	now func() time.Time

	mu      sync.Mutex
	entries map[string]entry
}

// New returns a cache over src.
func New(src Source, opt Options) *Cache {
	if opt.TTL <= 0 {
		opt.TTL = DefaultTTL
	}
	if opt.MaxEntries <= 0 {
		opt.MaxEntries = DefaultMaxEntries
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	return &Cache{src: src, opt: opt, now: time.Now, entries: map[string]entry{}}
}

// Profile returns userID's profile from the user's server. A remote error
// is a *federationclient.Error; a remote 404 is kept for the TTL like a
// profile, other failures are not kept.
func (c *Cache) Profile(ctx context.Context, userID string) (federationclient.Profile, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[userID]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.profile, e.err
	}
	_, server, _ := matrixevents.SplitUserID(userID)
	ctx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
	defer cancel()
	p, err := c.src.QueryProfile(ctx, server, userID)
	if re, isRemote := federationclient.RemoteError(err); err != nil && !(isRemote && re.Status == 404) {
		return p, err
	}
	c.put(userID, entry{profile: p, err: err, expires: c.now().Add(c.opt.TTL)})
	return p, err
}

func (c *Cache) put(userID string, e entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[userID]; !ok && len(c.entries) >= c.opt.MaxEntries {
		now := c.now()
		victim, soonest := "", time.Time{}
		for id, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, id)
				continue
			}
			if victim == "" || old.expires.Before(soonest) {
				victim, soonest = id, old.expires
			}
		}
		if len(c.entries) >= c.opt.MaxEntries {
			delete(c.entries, victim)
		}
	}
	c.entries[userID] = e
}
