package slidingsync

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A connection is what the server remembers of one client's sliding sync
// (a user's device and conn_id): which rooms it has been sent, up to
// where, with which parameters. Each response's pos names a state of the
// connection; the server keeps the state the client synced from (in case
// the response is lost and the request retried) and the new one, and
// forgets the others. A pos the server does not know (expired, evicted,
// from before a restart: connections live in memory) is answered with
// M_UNKNOWN_POS, and the client starts again.

// Bounds on what connections keep.
const (
	maxConnectionsPerDevice = 10
	maxConnections          = 20000
	// maxRoomsPerConnection bounds one connection's memory; a connection
	// that has been sent more rooms is dropped (the client starts over).
	maxRoomsPerConnection = 20000
	connectionIdle        = 24 * time.Hour
)

// sentStatus is what a connection knows of a room.
type sentStatus int

const (
	// neverSent: the client has nothing of the room.
	neverSent sentStatus = iota
	// sentLive: the client has everything up to the connection's pos.
	sentLive
	// sentBefore: the client has the room up to a position before pos.
	sentBefore
)

type roomSent struct {
	status sentStatus
	// upTo is, for sentBefore, the position the client has the room up to.
	upTo int64
}

// roomConfig is what a room was last sent with.
type roomConfig struct {
	timelineLimit int
	state         stateSpec
}

// connState is one state of a connection (immutable once stored: a new
// request copies it).
type connState struct {
	rooms   map[string]roomSent
	configs map[string]roomConfig
	// members are, per room, the member events sent as lazy-loaded
	// members: user ID → event ID.
	members map[string]map[string]string
	// dms are the rooms last sent as DMs.
	dms map[string]bool
}

func newConnState() *connState {
	return &connState{rooms: map[string]roomSent{}, configs: map[string]roomConfig{}, members: map[string]map[string]string{},
		dms: map[string]bool{}}
}

// clone copies the maps a response changes; members' inner maps are
// copied when written (setMember).
func (c *connState) clone() *connState {
	return &connState{rooms: maps.Clone(c.rooms), configs: maps.Clone(c.configs), members: maps.Clone(c.members), dms: maps.Clone(c.dms)}
}

func (c *connState) setMember(roomID, userID, eventID string, owned map[string]bool) {
	if !owned[roomID] {
		c.members[roomID] = maps.Clone(c.members[roomID])
		if c.members[roomID] == nil {
			c.members[roomID] = map[string]string{}
		}
		owned[roomID] = true
	}
	c.members[roomID][userID] = eventID
}

func (c *connState) resetMembers(roomID string, owned map[string]bool) {
	c.members[roomID] = map[string]string{}
	owned[roomID] = true
}

type connKey struct{ user, device, conn string }

type connection struct {
	key connKey
	// mu serialises the connection's requests.
	mu       sync.Mutex
	nonce    string
	states   map[int64]*connState
	next     int64
	lastUsed time.Time
}

// connections are all live connections.
type connections struct {
	mu    sync.Mutex
	byKey map[connKey]*connection
	now   func() time.Time
}

func newConnections() *connections {
	return &connections{byKey: map[connKey]*connection{}, now: time.Now}
}

// position is a parsed pos: a connection's nonce and state, and the
// stream positions it was computed at.
type position struct {
	nonce  string
	state  int64
	stream int64
	typing int64
}

func (p position) String() string {
	return fmt.Sprintf("%s_%d_%d_%d", p.nonce, p.state, p.stream, p.typing)
}

func parsePosition(s string) (position, bool) {
	parts := strings.Split(s, "_")
	if len(parts) != 4 || parts[0] == "" {
		return position{}, false
	}
	var nums [3]int64
	for i, p := range parts[1:] {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			return position{}, false
		}
		nums[i] = n
	}
	return position{nonce: parts[0], state: nums[0], stream: nums[1], typing: nums[2]}, true
}

// start begins a new connection for key, replacing any with the same
// conn_id, and returns it locked.
func (cs *connections) start(key connKey) *connection {
	nonce := make([]byte, 6)
	_, _ = rand.Read(nonce)
	c := &connection{key: key, nonce: hex.EncodeToString(nonce), states: map[int64]*connState{}, lastUsed: cs.now()}
	c.mu.Lock()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.byKey[key] = c
	cs.evictLocked(key)
	return c
}

// resume finds the connection and state a pos names and returns the
// connection locked, having forgotten its other states; ok is false when
// the pos is unknown.
func (cs *connections) resume(key connKey, pos position) (*connection, *connState, bool) {
	cs.mu.Lock()
	c := cs.byKey[key]
	cs.mu.Unlock()
	if c == nil || c.nonce != pos.nonce {
		return nil, nil, false
	}
	c.mu.Lock()
	st := c.states[pos.state]
	if st == nil || cs.now().Sub(c.lastUsed) > connectionIdle {
		c.mu.Unlock()
		return nil, nil, false
	}
	for n := range c.states {
		if n != pos.state {
			delete(c.states, n)
		}
	}
	c.lastUsed = cs.now()
	return c, st, true
}

// record stores a new state of a locked connection and returns its
// number; a state too large drops the connection instead (returning
// false), and its next pos is unknown.
func (cs *connections) record(c *connection, st *connState) (int64, bool) {
	if len(st.rooms) > maxRoomsPerConnection {
		cs.drop(c)
		return 0, false
	}
	c.next++
	c.states[c.next] = st
	return c.next, true
}

func (cs *connections) drop(c *connection) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.byKey[c.key] == c {
		delete(cs.byKey, c.key)
	}
}

// evictLocked keeps the device's connections and all connections within
// bounds, dropping the least recently used, and expired ones.
func (cs *connections) evictLocked(added connKey) {
	now := cs.now()
	var device []*connection
	for k, c := range cs.byKey {
		if now.Sub(c.lastUsed) > connectionIdle {
			delete(cs.byKey, k)
			continue
		}
		if k.user == added.user && k.device == added.device {
			device = append(device, c)
		}
	}
	dropOldest := func(list []*connection, keep int) {
		for len(list) > keep {
			oldest := 0
			for i, c := range list {
				if c.lastUsed.Before(list[oldest].lastUsed) {
					oldest = i
				}
			}
			if list[oldest].key != added {
				delete(cs.byKey, list[oldest].key)
			}
			list = append(list[:oldest], list[oldest+1:]...)
		}
	}
	dropOldest(device, maxConnectionsPerDevice)
	if len(cs.byKey) > maxConnections {
		all := make([]*connection, 0, len(cs.byKey))
		for _, c := range cs.byKey {
			all = append(all, c)
		}
		dropOldest(all, maxConnections)
	}
}
