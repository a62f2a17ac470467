// Package presence tracks whether users are online, unavailable or
// offline, from their syncs and explicit settings, and shares it with the
// people they share a room with.
package presence

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// States a user can be in.
const (
	Online      = "online"
	Unavailable = "unavailable"
	Offline     = "offline"
)

// Status is one user's presence.
type Status struct {
	UserID       string
	Presence     string
	StatusMsg    *string
	LastActiveTS int64
	StreamPos    int64
}

// ErrNotFound: no presence stored for a user.
var ErrNotFound = errors.New("no presence")

// Store keeps presence rows.
type Store interface {
	Get(ctx context.Context, userID string) (Status, error)
	// Put writes the status at its stream position.
	Put(ctx context.Context, s Status) error
	// ChangedBetween lists rows of users with positions in (since, to].
	ChangedBetween(ctx context.Context, users []string, since, to int64) ([]Status, error)
}

// Positions hands out stream positions.
type Positions interface {
	Reserve(ctx context.Context) (int64, func(), error)
}

// Service is presence.
type Service struct {
	store     Store
	positions Positions
	log       *slog.Logger
	now       func() time.Time
	// onChange hear of each stored change (sync wakes room-mates; local
	// users' changes go to other servers).
	onChange []func(s Status)

	mu sync.Mutex
	// lastSync is when each user last synced; an online user who stops
	// syncing goes offline after IdleOffline.
	lastSync map[string]time.Time
	// lastActive is the newest activity per user, fresher than the
	// stored row, which is only rewritten when the state changes.
	lastActive map[string]int64
	stop       chan struct{}
	done       chan struct{}
}

// IdleOffline is how long without a sync before an online user is
// marked offline.
const IdleOffline = 2 * time.Minute

// New builds the presence service.
func New(store Store, positions Positions, log *slog.Logger) *Service {
	return &Service{store: store, positions: positions, log: log, now: time.Now, lastSync: map[string]time.Time{}, lastActive: map[string]int64{}}
}

// OnChange registers a listener of stored changes. Register before
// serving.
func (s *Service) OnChange(f func(Status)) { s.onChange = append(s.onChange, f) }

// Set stores a user's presence when it differs from what is stored (or
// when the status message changes).
func (s *Service) Set(ctx context.Context, userID, presence string, statusMsg *string, active bool) error {
	cur, err := s.store.Get(ctx, userID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	now := s.now().UnixMilli()
	next := Status{UserID: userID, Presence: presence, StatusMsg: cur.StatusMsg, LastActiveTS: cur.LastActiveTS}
	if statusMsg != nil {
		next.StatusMsg = statusMsg
	}
	if active || next.LastActiveTS == 0 {
		next.LastActiveTS = now
	}
	if active {
		s.mu.Lock()
		s.lastActive[userID] = now
		s.mu.Unlock()
	}
	if err == nil && cur.Presence == presence && sameMsg(cur.StatusMsg, next.StatusMsg) {
		// Only activity moved: it is kept in memory and shown as
		// last_active_ago, without a write or waking anyone's sync.
		return nil
	}
	return s.publish(ctx, next)
}

// publish stores a changed status at a new stream position and tells the
// listener.
func (s *Service) publish(ctx context.Context, next Status) error {
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return err
	}
	next.StreamPos = pos
	err = s.store.Put(ctx, next)
	done()
	if err != nil {
		return err
	}
	for _, f := range s.onChange {
		f(next)
	}
	return nil
}

// SetRemote stores the presence another server sent for its user, who
// was last active lastActiveAgo before now. Unlike Set it never counts as
// a sync of this server: the user's own server decides when they go
// offline.
func (s *Service) SetRemote(ctx context.Context, userID, presence string, statusMsg *string, lastActiveAgo time.Duration) error {
	cur, err := s.store.Get(ctx, userID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	active := s.now().Add(-lastActiveAgo).UnixMilli()
	s.mu.Lock()
	s.lastActive[userID] = active
	s.mu.Unlock()
	if err == nil && cur.Presence == presence && sameMsg(cur.StatusMsg, statusMsg) {
		return nil
	}
	return s.publish(ctx, Status{UserID: userID, Presence: presence, StatusMsg: statusMsg, LastActiveTS: active})
}

func sameMsg(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// SyncStarted records a sync: set_presence (or online by default) unless
// the client asked to stay offline.
func (s *Service) SyncStarted(ctx context.Context, userID, setPresence string) {
	if setPresence == Offline {
		return
	}
	s.mu.Lock()
	s.lastSync[userID] = s.now()
	s.mu.Unlock()
	state := Online
	if setPresence == Unavailable {
		state = Unavailable
	}
	if err := s.Set(ctx, userID, state, nil, state == Online); err != nil {
		s.log.WarnContext(ctx, "recording presence", "user_id", userID, "err", err)
	}
}

// Get returns a user's presence; users never seen are offline.
func (s *Service) Get(ctx context.Context, userID string) (Status, error) {
	st, err := s.store.Get(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return Status{UserID: userID, Presence: Offline}, nil
	}
	return st, err
}

// Start runs the sweep that marks idle users offline. Stop ends it.
func (s *Service) Start() {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.SweepIdle(context.Background())
			}
		}
	}()
}

// Stop ends the sweep; safe when Start was never called.
func (s *Service) Stop() {
	if s.stop == nil {
		return
	}
	close(s.stop)
	<-s.done
	s.stop = nil
}

// SweepIdle marks users offline who stopped syncing.
func (s *Service) SweepIdle(ctx context.Context) {
	cutoff := s.now().Add(-IdleOffline)
	s.mu.Lock()
	var idle []string
	for u, t := range s.lastSync {
		if t.Before(cutoff) {
			idle = append(idle, u)
			delete(s.lastSync, u)
		}
	}
	s.mu.Unlock()
	for _, u := range idle {
		if err := s.Set(ctx, u, Offline, nil, false); err != nil {
			s.log.WarnContext(ctx, "marking idle user offline", "user_id", u, "err", err)
		}
	}
}

// Event renders a status as an m.presence event for a viewer.
func (s *Service) Event(st Status) map[string]any {
	content := map[string]any{"presence": st.Presence}
	s.mu.Lock()
	if ts, ok := s.lastActive[st.UserID]; ok && ts > st.LastActiveTS {
		st.LastActiveTS = ts
	}
	s.mu.Unlock()
	if st.LastActiveTS > 0 {
		ago := s.now().UnixMilli() - st.LastActiveTS
		content["last_active_ago"] = max(ago, 0)
		content["currently_active"] = st.Presence == Online && ago < int64(time.Minute/time.Millisecond)
	}
	if st.StatusMsg != nil {
		content["status_msg"] = *st.StatusMsg
	}
	return map[string]any{"type": "m.presence", "sender": st.UserID, "content": content}
}

// ChangedBetween is the presence of users changed in (since, to]; nil
// users means everyone.
func (s *Service) ChangedBetween(ctx context.Context, users []string, since, to int64) ([]Status, error) {
	return s.store.ChangedBetween(ctx, users, since, to)
}
