// Package presence tracks whether users are online, unavailable or
// offline, from their syncs and explicit settings, and shares it with the
// people they share a room with.
package presence

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
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
	// ChangedBetween lists rows with positions in (since, to].
	ChangedBetween(ctx context.Context, since, to int64) ([]Status, error)
	// Live lists the rows of users who are not offline.
	Live(ctx context.Context) ([]Status, error)
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
	// serverSuffix (":" and the server name) tells local users, whom
	// this server takes offline when they stop syncing.
	serverSuffix string
	live         *liveStatuses
	now          func() time.Time
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

// New builds the presence service of serverName's users.
func New(store Store, positions Positions, serverName string, log *slog.Logger) *Service {
	return &Service{store: store, positions: positions, log: log, now: time.Now, serverSuffix: ":" + serverName,
		live: newLiveStatuses(), lastSync: map[string]time.Time{}, lastActive: map[string]int64{}}
}

// current is the stored status of userID (ErrNotFound when none is).
func (s *Service) current(ctx context.Context, userID string) (Status, error) {
	if err := s.loadLive(ctx); err != nil {
		return Status{}, err
	}
	if st, ok := s.live.get(userID); ok {
		return st, nil
	}
	return s.store.Get(ctx, userID)
}

// loadLive reads who is not offline, once. Local users found online
// (stored before a restart) go offline unless they sync within
// IdleOffline, as if they had just synced.
func (s *Service) loadLive(ctx context.Context) error {
	return s.live.load(ctx, s.store, func(statuses []Status) {
		now := s.now()
		s.mu.Lock()
		for _, st := range statuses {
			if _, ok := s.lastSync[st.UserID]; !ok && strings.HasSuffix(st.UserID, s.serverSuffix) {
				s.lastSync[st.UserID] = now
			}
		}
		s.mu.Unlock()
	})
}

// LiveAmong is the status of each of users who is not offline, as stored
// at or before position to, in no particular order.
func (s *Service) LiveAmong(ctx context.Context, users []string, to int64) ([]Status, error) {
	if err := s.loadLive(ctx); err != nil {
		return nil, err
	}
	return s.live.among(users, to), nil
}

// OnChange registers a listener of stored changes. Register before
// serving.
func (s *Service) OnChange(f func(Status)) { s.onChange = append(s.onChange, f) }

// Set stores a user's presence when it differs from what is stored (or
// when the status message changes).
func (s *Service) Set(ctx context.Context, userID, presence string, statusMsg *string, active bool) error {
	return s.change(ctx, userID, func(cur Status, found bool) (Status, bool) {
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
		// When only activity moved it is kept in memory and shown as
		// last_active_ago, without a write or waking anyone's sync.
		return next, !found || cur.Presence != presence || !sameMsg(cur.StatusMsg, next.StatusMsg)
	})
}

// SetRemote stores the presence another server sent for its user, who
// was last active lastActiveAgo before now. Unlike Set it never counts as
// a sync of this server: the user's own server decides when they go
// offline.
func (s *Service) SetRemote(ctx context.Context, userID, presence string, statusMsg *string, lastActiveAgo time.Duration) error {
	return s.change(ctx, userID, func(cur Status, found bool) (Status, bool) {
		active := s.now().Add(-lastActiveAgo).UnixMilli()
		s.mu.Lock()
		s.lastActive[userID] = active
		s.mu.Unlock()
		next := Status{UserID: userID, Presence: presence, StatusMsg: statusMsg, LastActiveTS: active}
		return next, !found || cur.Presence != presence || !sameMsg(cur.StatusMsg, statusMsg)
	})
}

// change reads userID's stored status, asks decide for the next one and
// whether it must be stored, stores it at a new stream position and tells
// the listeners. One user's changes take turns, so the store and the live
// statuses end the same.
func (s *Service) change(ctx context.Context, userID string, decide func(cur Status, found bool) (Status, bool)) error {
	next, changed, err := func() (Status, bool, error) {
		defer s.live.writers.Lock(userID)()
		cur, err := s.current(ctx, userID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Status{}, false, err
		}
		next, changed := decide(cur, err == nil)
		if !changed {
			return next, false, nil
		}
		pos, done, err := s.positions.Reserve(ctx)
		if err != nil {
			return next, false, err
		}
		next.StreamPos = pos
		err = s.store.Put(ctx, next)
		done()
		if err != nil {
			return next, false, err
		}
		s.live.stored(next)
		return next, true, nil
	}()
	if err != nil || !changed {
		return err
	}
	for _, f := range s.onChange {
		f(next)
	}
	return nil
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
	st, err := s.current(ctx, userID)
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
	if ago, active, ok := s.activity(st); ok {
		content["last_active_ago"] = ago
		content["currently_active"] = active
	}
	if st.StatusMsg != nil {
		content["status_msg"] = *st.StatusMsg
	}
	return map[string]any{"type": "m.presence", "sender": st.UserID, "content": content}
}

// EventJSON is Event encoded, from a struct: Event's maps would have their
// keys sorted at every encoding.
func (s *Service) EventJSON(st Status) []byte {
	type content struct {
		Presence        string  `json:"presence"`
		LastActiveAgo   *int64  `json:"last_active_ago,omitempty"`
		CurrentlyActive *bool   `json:"currently_active,omitempty"`
		StatusMsg       *string `json:"status_msg,omitempty"`
	}
	ev := struct {
		Type    string  `json:"type"`
		Sender  string  `json:"sender"`
		Content content `json:"content"`
	}{Type: "m.presence", Sender: st.UserID, Content: content{Presence: st.Presence, StatusMsg: st.StatusMsg}}
	if ago, active, ok := s.activity(st); ok {
		ev.Content.LastActiveAgo, ev.Content.CurrentlyActive = &ago, &active
	}
	out, _ := json.Marshal(ev)
	return out
}

// activity is how long ago the user was last active and whether they are
// now, from the freshest activity known; ok is false when none is.
func (s *Service) activity(st Status) (ago int64, active, ok bool) {
	s.mu.Lock()
	if ts, seen := s.lastActive[st.UserID]; seen && ts > st.LastActiveTS {
		st.LastActiveTS = ts
	}
	s.mu.Unlock()
	if st.LastActiveTS <= 0 {
		return 0, false, false
	}
	ago = max(s.now().UnixMilli()-st.LastActiveTS, 0)
	return ago, st.Presence == Online && ago < int64(time.Minute/time.Millisecond), true
}

// ChangedBetween is every presence change in (since, to].
func (s *Service) ChangedBetween(ctx context.Context, since, to int64) ([]Status, error) {
	return s.store.ChangedBetween(ctx, since, to)
}
