package clientsync

import "sync"

// lazyMembers remembers which member events each device has been sent per
// room, so lazy-loading syncs do not resend them. It is a cache: after a
// restart, or when full, members are simply sent again.
type lazyMembers struct {
	mu   sync.Mutex
	sent map[string]map[string]string // user|device|room -> member -> event ID
	// entries counts members remembered across every key.
	entries int
}

// maxLazyEntries bounds what is remembered (about 35 bytes an entry):
// in a room of 1,000 members every device sees every join, so a
// thousand devices would otherwise keep a million entries.
const maxLazyEntries = 100000

func lazyKey(req *Request, roomID string) string {
	return req.UserID + "|" + req.DeviceID + "|" + roomID
}

func (l *lazyMembers) alreadySent(req *Request, roomID, member, eventID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent[lazyKey(req, roomID)][member] == eventID
}

func (l *lazyMembers) record(req *Request, roomID, member, eventID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent == nil || l.entries >= maxLazyEntries {
		l.sent, l.entries = map[string]map[string]string{}, 0
	}
	k := lazyKey(req, roomID)
	if l.sent[k] == nil {
		l.sent[k] = map[string]string{}
	}
	if _, ok := l.sent[k][member]; !ok {
		l.entries++
	}
	l.sent[k][member] = eventID
}

func (l *lazyMembers) reset(req *Request, roomID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := lazyKey(req, roomID)
	l.entries -= len(l.sent[k])
	delete(l.sent, k)
}
