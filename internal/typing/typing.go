// Package typing keeps who is typing in which room. Typing notifications
// are ephemeral: they live in memory only, each with an expiry, and are
// lost on restart (clients re-send them every few seconds while typing).
//
// Sync-facing API:
//
//   - Current(roomID) []string: the users typing in a room now, sorted;
//     this is the m.typing EDU content {"user_ids": [...]}.
//   - Version() int64: the global typing version. Each change to any
//     room's list moves it to the clock's Unix time in microseconds, or
//     one above its last value if that is higher; it starts at the clock
//     when the service is built. So a version handed out before a restart
//     is below every version after it unless typing changed more than a
//     million times a second on average, or the clock went back.
//   - RoomVersion(roomID) int64: the global version at that room's latest
//     change (0 when the room has never changed). A sync holding typing
//     version V sends m.typing for each joined room whose RoomVersion > V.
//   - ChangedSince(v) []string: the rooms whose RoomVersion > v.
//   - OnChange(f): f(roomID) is called (outside locks) after a room's list
//     changes, including when an entry expires, so long-polls can wake.
//
// A token version above Version() means the token predates a restart
// with a slower clock; treat it as 0.
package typing

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"foyer/internal/refusal"
	"foyer/internal/rooms"
)

const (
	// DefaultTimeout is used when a client gives no (or a non-positive)
	// timeout.
	DefaultTimeout = 30 * time.Second
	// MaxTimeout caps what a client may ask for.
	MaxTimeout = 120 * time.Second
)

// ErrNotJoined refuses typing in a room the user is not joined to.
var ErrNotJoined = errors.New("you are not joined to this room")

// Clock is time for the service; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled AfterFunc call.
type Timer interface {
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(d, f)
}

// RealClock is the wall clock.
var RealClock Clock = realClock{}

// Rooms answers whether a user is joined to a room (rooms.Service).
type Rooms interface {
	RequireJoined(ctx context.Context, userID, roomID string) error
}

type roomTyping struct {
	users   map[string]time.Time // userID -> expiry
	version int64
}

// Service is the typing state of every room.
type Service struct {
	rooms Rooms
	clock Clock

	mu      sync.Mutex
	version int64
	byRoom  map[string]*roomTyping
	timer   Timer
	timerAt time.Time

	listenersMu sync.RWMutex
	listeners   []func(roomID string)
}

// New builds the service. rooms may be nil when membership is checked by
// the caller (tests); clock nil means the wall clock.
func New(r Rooms, clock Clock) *Service {
	if clock == nil {
		clock = RealClock
	}
	return &Service{rooms: r, clock: clock, byRoom: map[string]*roomTyping{}, version: clock.Now().UnixMicro()}
}

// OnChange registers f to hear of each change to a room's typing list.
// f must be quick and must not call the room service: it can run inside
// a rooms.Service event listener (HandleEvent), under that room's lock.
func (s *Service) OnChange(f func(roomID string)) {
	s.listenersMu.Lock()
	s.listeners = append(s.listeners, f)
	s.listenersMu.Unlock()
}

func (s *Service) notify(roomIDs []string) {
	if len(roomIDs) == 0 {
		return
	}
	s.listenersMu.RLock()
	defer s.listenersMu.RUnlock()
	for _, id := range roomIDs {
		for _, f := range s.listeners {
			f(id)
		}
	}
}

// ClampTimeout applies the default and the cap to a client's timeout.
func ClampTimeout(d time.Duration) time.Duration {
	switch {
	case d <= 0:
		return DefaultTimeout
	case d > MaxTimeout:
		return MaxTimeout
	}
	return d
}

// SetTyping records that userID is (typing=true, for timeout) or is no
// longer typing in roomID. The user must be joined to the room.
func (s *Service) SetTyping(ctx context.Context, roomID, userID string, typing bool, timeout time.Duration) error {
	if s.rooms != nil {
		var re *refusal.Error
		if err := s.rooms.RequireJoined(ctx, userID, roomID); errors.As(err, &re) && re.Kind == refusal.Forbidden {
			return ErrNotJoined
		} else if err != nil {
			return err
		}
	}
	if typing {
		s.Start(roomID, userID, timeout)
	} else {
		s.Stop(roomID, userID)
	}
	return nil
}

// Start marks userID as typing in roomID until now+timeout (clamped),
// without a membership check.
func (s *Service) Start(roomID, userID string, timeout time.Duration) {
	now := s.clock.Now()
	expiry := now.Add(ClampTimeout(timeout))
	s.mu.Lock()
	changed := s.expireLocked(now)
	rt := s.byRoom[roomID]
	if rt == nil {
		rt = &roomTyping{users: map[string]time.Time{}}
		s.byRoom[roomID] = rt
	}
	if _, already := rt.users[userID]; !already {
		s.bumpLocked(rt)
		changed = appendOnce(changed, roomID)
	}
	rt.users[userID] = expiry
	s.scheduleLocked()
	s.mu.Unlock()
	s.notify(changed)
}

// Stop marks userID as no longer typing in roomID.
func (s *Service) Stop(roomID, userID string) {
	s.mu.Lock()
	changed := s.expireLocked(s.clock.Now())
	if rt := s.byRoom[roomID]; rt != nil {
		if _, ok := rt.users[userID]; ok {
			delete(rt.users, userID)
			s.bumpLocked(rt)
			changed = appendOnce(changed, roomID)
		}
	}
	s.scheduleLocked()
	s.mu.Unlock()
	s.notify(changed)
}

// HandleEvent is a rooms.Service OnEvent listener: a user who leaves (or
// is kicked or banned from) a room stops typing there.
func (s *Service) HandleEvent(se rooms.StoredEvent) {
	ev := se.Event
	if ev.Type() != "m.room.member" || ev.StateKey() == nil || ev.Membership() == "join" {
		return
	}
	s.Stop(ev.RoomID(), *ev.StateKey())
}

// Current lists the users typing in roomID now, sorted.
func (s *Service) Current(roomID string) []string {
	s.mu.Lock()
	changed := s.expireLocked(s.clock.Now())
	var users []string
	if rt := s.byRoom[roomID]; rt != nil {
		for u := range rt.users {
			users = append(users, u)
		}
	}
	s.mu.Unlock()
	s.notify(changed)
	sort.Strings(users)
	if users == nil {
		users = []string{}
	}
	return users
}

// Version is the global typing version (see the package comment).
func (s *Service) Version() int64 {
	s.mu.Lock()
	changed := s.expireLocked(s.clock.Now())
	v := s.version
	s.mu.Unlock()
	s.notify(changed)
	return v
}

// RoomVersion is the global version at roomID's latest change, 0 if none.
func (s *Service) RoomVersion(roomID string) int64 {
	s.mu.Lock()
	changed := s.expireLocked(s.clock.Now())
	var v int64
	if rt := s.byRoom[roomID]; rt != nil {
		v = rt.version
	}
	s.mu.Unlock()
	s.notify(changed)
	return v
}

// ChangedSince lists, sorted, the rooms whose typing list changed after
// global version v.
func (s *Service) ChangedSince(v int64) []string {
	s.mu.Lock()
	changed := s.expireLocked(s.clock.Now())
	var out []string
	for id, rt := range s.byRoom {
		if rt.version > v {
			out = append(out, id)
		}
	}
	s.mu.Unlock()
	s.notify(changed)
	sort.Strings(out)
	return out
}

// Expire drops entries whose time has come and tells listeners. The
// service's timer calls it; so does every read.
func (s *Service) Expire() {
	s.mu.Lock()
	changed := s.expireLocked(s.clock.Now())
	s.scheduleLocked()
	s.mu.Unlock()
	s.notify(changed)
}

func (s *Service) bumpLocked(rt *roomTyping) {
	s.version = max(s.version+1, s.clock.Now().UnixMicro())
	rt.version = s.version
}

// expireLocked removes expired entries and returns the rooms that changed.
// A room whose list becomes empty keeps its entry: its version tells a
// sync holding an older version to send the (now empty) list. Entries
// are a few words per room that ever saw typing, so they are not pruned.
func (s *Service) expireLocked(now time.Time) []string {
	// timerAt is the earliest expiry scheduled, never later than the real
	// one (entries only leave early): before it, nothing can have expired,
	// and the reads on every sync skip the scan.
	if s.timerAt.IsZero() || now.Before(s.timerAt) {
		return nil
	}
	var changed []string
	for id, rt := range s.byRoom {
		for u, exp := range rt.users {
			if !now.Before(exp) {
				delete(rt.users, u)
				if !slices.Contains(changed, id) {
					s.bumpLocked(rt)
					changed = append(changed, id)
				}
			}
		}
	}
	return changed
}

// scheduleLocked arms the timer for the earliest expiry.
func (s *Service) scheduleLocked() {
	var next time.Time
	for _, rt := range s.byRoom {
		for _, exp := range rt.users {
			if next.IsZero() || exp.Before(next) {
				next = exp
			}
		}
	}
	if next.IsZero() {
		if s.timer != nil {
			s.timer.Stop()
			s.timer, s.timerAt = nil, time.Time{}
		}
		return
	}
	if s.timer != nil && s.timerAt.Equal(next) {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	d := next.Sub(s.clock.Now())
	if d < 0 {
		d = 0
	}
	s.timerAt = next
	s.timer = s.clock.AfterFunc(d, s.Expire)
}

func appendOnce(list []string, id string) []string {
	if slices.Contains(list, id) {
		return list
	}
	return append(list, id)
}
