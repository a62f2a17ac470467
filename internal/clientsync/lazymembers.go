package clientsync

import "sync"

// lazyMembers remembers which member events each device has been sent per
// room, so lazy-loading syncs do not resend them. It is a cache: after a
// restart, or when full, members are simply sent again.
type lazyMembers struct {
	mu   sync.Mutex
	sent map[string]map[string]string // user|device|room -> member -> event ID
}

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
	if l.sent == nil || len(l.sent) > maxLazyEntries {
		l.sent = map[string]map[string]string{}
	}
	k := lazyKey(req, roomID)
	if l.sent[k] == nil {
		l.sent[k] = map[string]string{}
	}
	l.sent[k][member] = eventID
}

func (l *lazyMembers) reset(req *Request, roomID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.sent, lazyKey(req, roomID))
}
