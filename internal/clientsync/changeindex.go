package clientsync

import (
	"slices"
	"sync"

	"foyer/internal/clientdata"
	"foyer/internal/rooms"
)

// changeIndex remembers the newest position of room events, receipts and
// account data writes per room and per user since the server started. A
// sync whose since is at or after the start and after every recorded
// write can skip those queries: most long-poll wake-ups are for one new
// message in one of the user's rooms.
type changeIndex struct {
	mu       sync.Mutex
	startPos int64
	users    map[string]int64 // user -> newest write for that user alone
	receipts map[string]int64 // room -> newest public receipt
	events   map[string]int64 // room -> newest event
	// members is the newest membership event per room, and per user whose
	// membership it is.
	roomMembers map[string]int64
	userMembers map[string]int64
	// recent are the rooms' newest event positions.
	recent map[string]*recentEvents
}

func newChangeIndex(startPos int64) *changeIndex {
	return &changeIndex{startPos: startPos, users: map[string]int64{}, receipts: map[string]int64{}, events: map[string]int64{},
		roomMembers: map[string]int64{}, userMembers: map[string]int64{}, recent: map[string]*recentEvents{}}
}

func (c *changeIndex) recordEvent(se rooms.StoredEvent) {
	roomID, pos := se.Event.RoomID(), se.StreamPos
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events[roomID] = max(c.events[roomID], pos)
	r := c.recent[roomID]
	if r == nil {
		r = &recentEvents{floor: c.startPos}
		c.recent[roomID] = r
	}
	at, _ := slices.BinarySearch(r.positions, pos)
	r.positions = slices.Insert(r.positions, at, pos)
	if len(r.positions) > recentEventsKept {
		r.floor = r.positions[0]
		r.positions = slices.Delete(r.positions, 0, 1)
	}
	if se.Event.Type() == "m.room.member" && se.Event.StateKey() != nil {
		target := *se.Event.StateKey()
		c.roomMembers[roomID] = max(c.roomMembers[roomID], pos)
		c.userMembers[target] = max(c.userMembers[target], pos)
	}
}

// membershipsUnchangedSince is true when no membership event of userID,
// nor any in roomIDs, came after since.
func (c *changeIndex) membershipsUnchangedSince(userID string, roomIDs []string, since int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if since < c.startPos || c.userMembers[userID] > since {
		return false
	}
	for _, r := range roomIDs {
		if c.roomMembers[r] > since {
			return false
		}
	}
	return true
}

// recentEventsKept is how many of a room's newest event positions the
// index keeps (recentEvents).
const recentEventsKept = 16

// recentEvents are a room's newest event positions, ascending: every
// event of the room after floor is among them.
type recentEvents struct {
	floor     int64
	positions []int64
}

// sameEventsRange narrows the range (lower, upper] to one that holds the
// same events of the room, made of the positions of events themselves
// (or of where the index stops knowing): syncs whose tokens differ only
// by writes elsewhere then read the same range. upper must be visible.
func (c *changeIndex) sameEventsRange(roomID string, lower, upper int64) (int64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.recent[roomID]
	floor := c.startPos
	var positions []int64
	if r != nil {
		floor, positions = r.floor, r.positions
	}
	below := func(pos int64) int64 {
		out := floor
		for _, p := range positions {
			if p <= pos {
				out = p
			}
		}
		return out
	}
	if upper >= floor {
		upper = below(upper)
	}
	if lower >= floor {
		lower = below(lower)
	}
	return lower, upper
}

// eventsMaybeSince is false only when the room can have no event after since.
func (c *changeIndex) eventsMaybeSince(roomID string, since int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return since < c.startPos || c.events[roomID] > since
}

func (c *changeIndex) record(w clientdata.Write) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.RoomWide {
		c.receipts[w.RoomID] = max(c.receipts[w.RoomID], w.Pos)
	} else {
		// Account data and private receipts concern one user.
		c.users[w.UserID] = max(c.users[w.UserID], w.Pos)
	}
}

// accountDataMaybeSince is false only when nothing can have changed.
func (c *changeIndex) accountDataMaybeSince(userID string, since int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return since < c.startPos || c.users[userID] > since
}

func (c *changeIndex) receiptsMaybeSince(userID string, roomIDs []string, since int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if since < c.startPos || c.users[userID] > since {
		return true
	}
	for _, r := range roomIDs {
		if c.receipts[r] > since {
			return true
		}
	}
	return false
}
