package e2ee

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"foyer/internal/federationclient"
	"foyer/internal/keylock"
)

// RemoteKeys are the calls this package makes to other servers
// (federationclient.Client).
type RemoteKeys interface {
	UserDevices(ctx context.Context, server, userID string) (federationclient.UserDevices, error)
	QueryKeys(ctx context.Context, server string, deviceKeys map[string][]string) (federationclient.KeysQuery, error)
	ClaimKeys(ctx context.Context, server string, oneTimeKeys map[string]map[string]string) (federationclient.KeysClaim, error)
}

// EDUQueue queues EDUs for other servers (federationsender.Sender).
type EDUQueue interface {
	QueueEDU(ctx context.Context, destinations []string, edu json.RawMessage) error
}

// federation is what the service needs to reach other servers' users.
type federation struct {
	remote RemoteKeys
	edus   EDUQueue
	store  RemoteDeviceStore

	// publishing serialises the device-list EDUs of each local user, so
	// their stream_ids and prev_ids chain.
	publishing keylock.Striped
	resync     resyncer
	// fetching holds the fetches of users' lists under way, which
	// concurrent askers share.
	fetching listFetches

	// background is the work left running after a request (fetches of
	// stale lists, forgetting lists): cancelled and awaited by Stop.
	background context.Context
	stop       context.CancelFunc
	running    sync.WaitGroup
	// startMu orders starting background work against Stop.
	startMu sync.Mutex
}

// SetFederation lets the service reach other servers: keys of their
// users are asked of them (and their device lists cached in store), and
// local device-list changes and to-device messages for their users are
// queued for them. Without it, other servers' users have no keys here.
func (s *Service) SetFederation(remote RemoteKeys, edus EDUQueue, store RemoteDeviceStore) {
	ctx, stop := context.WithCancel(context.Background())
	s.fed = &federation{remote: remote, edus: edus, store: store, background: ctx, stop: stop,
		resync:   resyncer{pending: map[string]bool{}, slots: make(chan struct{}, maxConcurrentResyncs)},
		fetching: listFetches{byUser: map[string]*listFetch{}}}
}

// Stop ends the service's background work and waits for it, before the
// database closes.
func (s *Service) Stop() {
	if s.fed == nil {
		return
	}
	s.fed.startMu.Lock()
	s.fed.stop()
	s.fed.startMu.Unlock()
	s.fed.running.Wait()
}

// inBackground runs f outside the request that asked for it, within
// timeout, unless the service is stopping.
func (s *Service) inBackground(timeout time.Duration, f func(ctx context.Context)) {
	s.fed.startMu.Lock()
	defer s.fed.startMu.Unlock()
	if s.fed.background.Err() != nil {
		return
	}
	s.fed.running.Add(1)
	go func() {
		defer s.fed.running.Done()
		ctx, cancel := context.WithTimeout(s.fed.background, timeout)
		defer cancel()
		f(ctx)
	}()
}

// isLocal reports whether userID is a user of this server.
func (s *Service) isLocal(userID string) bool {
	return strings.HasSuffix(userID, ":"+s.serverName)
}

// serverOf is the server name of a user ID ("" when it has none).
func serverOf(userID string) string {
	_, server, ok := strings.Cut(userID, ":")
	if !ok || !strings.HasPrefix(userID, "@") {
		return ""
	}
	return server
}

// sharesRoomWithLocal reports whether a remote user is joined to a room
// with at least one local user: only then are their device-list updates
// sent here, so only then may a cached list be trusted.
func (s *Service) sharesRoomWithLocal(ctx context.Context, userID string) (bool, error) {
	return s.newShareCheck().shares(ctx, userID)
}

// shareCheck answers sharesRoomWithLocal for many users, reading each
// room's members once however many of the users are in it.
type shareCheck struct {
	s  *Service
	mu sync.Mutex
	// hasLocal says, per room, whether a local user is joined to it.
	hasLocal map[string]bool
}

func (s *Service) newShareCheck() *shareCheck {
	return &shareCheck{s: s, hasLocal: map[string]bool{}}
}

func (c *shareCheck) shares(ctx context.Context, userID string) (bool, error) {
	rooms, err := c.s.rooms.JoinedRooms(ctx, userID)
	if err != nil {
		return false, err
	}
	for _, roomID := range rooms {
		c.mu.Lock()
		has, known := c.hasLocal[roomID]
		c.mu.Unlock()
		if !known {
			members, err := c.s.store.JoinedMembers(ctx, roomID)
			if err != nil {
				return false, err
			}
			has = slices.ContainsFunc(members, c.s.isLocal)
			c.mu.Lock()
			c.hasLocal[roomID] = has
			c.mu.Unlock()
		}
		if has {
			return true, nil
		}
	}
	return false, nil
}

// remoteServersOf lists the other servers with a user joined to a room
// userID is joined to.
func (s *Service) remoteServersOf(ctx context.Context, userID string) ([]string, error) {
	mates, err := s.rooms.RoomMates(ctx, userID)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range mates {
		server := serverOf(m)
		if server == "" || server == s.serverName || seen[server] {
			continue
		}
		seen[server] = true
		out = append(out, server)
	}
	return out, nil
}

// parallel runs f for each key with at most limit running at once and
// waits for all.
func parallel(keys []string, limit int, f func(key string)) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, limit)
	for _, k := range keys {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			f(k)
		}()
	}
	wg.Wait()
}
