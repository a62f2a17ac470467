package slidingsync

import (
	"context"
	"sync"

	"foyer/internal/rooms"
)

// listCache keeps each syncing user's membership rows between requests,
// checked on every use against the database's digest of them (one
// aggregate over an index, no row read out), and rooms' newest bumps as
// events are stored, so a request does not read a row per room the user
// is in: a user in thousands of rooms costs a sum, not thousands of rows.
type listCache struct {
	mu    sync.Mutex
	users map[string]cachedList
	rows  int
	// bumps are the newest bump positions of rooms seen since start; a
	// cached row's own bump is the newer of it and this.
	bumps map[string]int64
}

type cachedList struct {
	digest MembershipsDigest
	rows   []ListedRoom
}

// maxCachedRows bounds the memory of the cache (about 100 bytes a row).
const maxCachedRows = 500000

func newListCache(rs *rooms.Service) *listCache {
	c := &listCache{users: map[string]cachedList{}, bumps: map[string]int64{}}
	if rs != nil {
		// Indexers learn of an event before its position is visible, so no
		// request sees a position whose bump is not here yet.
		rs.IndexEvents(func(se rooms.StoredEvent) {
			if se.StreamPos > 0 && rooms.BumpEventTypes[se.Event.Type()] {
				c.mu.Lock()
				c.bumps[se.Event.RoomID()] = max(c.bumps[se.Event.RoomID()], se.StreamPos)
				c.mu.Unlock()
			}
		})
	}
	return c
}

// listedRooms are the user's membership rows, with current bumps and
// forgotten flags; the slice is the caller's.
func (s *Service) listedRooms(ctx context.Context, userID string) ([]ListedRoom, error) {
	digest, err := s.lists.MembershipsDigest(ctx, userID)
	if err != nil {
		return nil, err
	}
	forgotten, err := s.lists.ForgottenRooms(ctx, userID)
	if err != nil {
		return nil, err
	}
	c := s.listCache
	c.mu.Lock()
	cached, ok := c.users[userID]
	c.mu.Unlock()
	if !ok || cached.digest != digest {
		rows, err := s.lists.ListedRooms(ctx, userID)
		if err != nil {
			return nil, err
		}
		after, err := s.lists.MembershipsDigest(ctx, userID)
		if err != nil {
			return nil, err
		}
		cached = cachedList{digest: digest, rows: rows}
		// Kept only when nothing changed while the rows were read.
		if after == digest {
			c.mu.Lock()
			if old, had := c.users[userID]; had {
				c.rows -= len(old.rows)
			}
			if c.rows+len(rows) > maxCachedRows {
				c.users, c.rows = map[string]cachedList{}, 0
			}
			c.users[userID] = cached
			c.rows += len(rows)
			c.mu.Unlock()
		}
	}
	out := make([]ListedRoom, len(cached.rows))
	c.mu.Lock()
	for i, r := range cached.rows {
		r.BumpPos = max(r.BumpPos, c.bumps[r.RoomID])
		r.Forgotten = forgotten[r.RoomID]
		out[i] = r
	}
	c.mu.Unlock()
	return out, nil
}
