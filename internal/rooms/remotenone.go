package rooms

import "sync"

// remoteNone remembers the users known to have no remote memberships:
// every sync asks for a user's, and nearly every answer is none. Rows are
// added only by putRemote, which forgets the user once its write is
// stored; a read that raced the write is not remembered, because the
// generation it began under has moved. Deleting rows only makes "none"
// truer, so deleters need not tell.
type remoteNone struct {
	mu    sync.Mutex
	gen   uint64
	users map[string]struct{}
}

// remoteNoneMax bounds the users remembered; past it, reads are not.
const remoteNoneMax = 100_000

// known reports whether userID has no remote memberships, and the
// generation to pass to remember after reading them.
func (n *remoteNone) known(userID string) (bool, uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.users[userID]
	return ok, n.gen
}

// remember notes that a read begun under gen found none for userID.
func (n *remoteNone) remember(userID string, gen uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if gen != n.gen || len(n.users) >= remoteNoneMax {
		return
	}
	if n.users == nil {
		n.users = map[string]struct{}{}
	}
	n.users[userID] = struct{}{}
}

// forget is called after a remote membership of userID was stored.
func (n *remoteNone) forget(userID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.gen++
	delete(n.users, userID)
}
