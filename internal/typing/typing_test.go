package typing

import (
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeClock runs AfterFunc callbacks synchronously when Advance passes
// their time, so expiry is tested without sleeping.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	pending []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.pending = append(c.pending, t)
	return t
}

// Advance moves time on and fires due timers in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.pending[:0]
	for _, t := range c.pending {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.pending = keep
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.f()
	}
}

func (c *fakeClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.pending {
		if !t.stopped {
			n++
		}
	}
	return n
}

func newTestService() (*Service, *fakeClock, *[]string) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	s := New(nil, clock)
	var mu sync.Mutex
	changes := &[]string{}
	s.OnChange(func(roomID string) {
		mu.Lock()
		*changes = append(*changes, roomID)
		mu.Unlock()
	})
	return s, clock, changes
}

func TestTypingStartStopAndVersions(t *testing.T) {
	s, _, changes := newTestService()
	v0 := s.Version()
	if got := s.Current("!a:x"); len(got) != 0 {
		t.Fatalf("empty room: %v", got)
	}
	if s.RoomVersion("!a:x") != 0 {
		t.Fatal("untouched room has a version")
	}
	s.Start("!a:x", "@bob:x", 10*time.Second)
	s.Start("!a:x", "@alice:x", 10*time.Second)
	if got := s.Current("!a:x"); !slices.Equal(got, []string{"@alice:x", "@bob:x"}) {
		t.Fatalf("current: %v", got)
	}
	v1 := s.RoomVersion("!a:x")
	if v1 != v0+2 || s.Version() != v1 {
		t.Fatalf("versions: start %d room %d global %d", v0, v1, s.Version())
	}
	// Refreshing an existing typist changes nothing visible.
	s.Start("!a:x", "@bob:x", 20*time.Second)
	if s.RoomVersion("!a:x") != v1 || len(*changes) != 2 {
		t.Fatalf("refresh bumped the version or notified: %d %v", s.RoomVersion("!a:x"), *changes)
	}
	s.Start("!b:x", "@carol:x", 0)
	if got := s.ChangedSince(v1); !slices.Equal(got, []string{"!b:x"}) {
		t.Fatalf("changed since %d: %v", v1, got)
	}
	s.Stop("!a:x", "@bob:x")
	if got := s.Current("!a:x"); !slices.Equal(got, []string{"@alice:x"}) {
		t.Fatalf("after stop: %v", got)
	}
	// Stopping someone not typing is not a change.
	before := s.Version()
	s.Stop("!a:x", "@nobody:x")
	if s.Version() != before {
		t.Fatal("no-op stop bumped the version")
	}
	if !slices.Equal(*changes, []string{"!a:x", "!a:x", "!b:x", "!a:x"}) {
		t.Fatalf("notifications: %v", *changes)
	}
}

func TestTypingExpiresOnTimer(t *testing.T) {
	s, clock, changes := newTestService()
	s.Start("!a:x", "@alice:x", 5*time.Second)
	s.Start("!a:x", "@bob:x", 8*time.Second)
	if clock.armed() != 1 {
		t.Fatalf("want one armed timer, have %d", clock.armed())
	}
	v := s.RoomVersion("!a:x")
	*changes = nil
	clock.Advance(4999 * time.Millisecond)
	if len(s.Current("!a:x")) != 2 || len(*changes) != 0 {
		t.Fatalf("expired early: %v %v", s.Current("!a:x"), *changes)
	}
	clock.Advance(time.Millisecond)
	if got := s.Current("!a:x"); !slices.Equal(got, []string{"@bob:x"}) {
		t.Fatalf("after 5s: %v", got)
	}
	if !slices.Equal(*changes, []string{"!a:x"}) || s.RoomVersion("!a:x") <= v {
		t.Fatalf("expiry not notified by the timer: %v version %d", *changes, s.RoomVersion("!a:x"))
	}
	clock.Advance(3 * time.Second)
	if got := s.Current("!a:x"); len(got) != 0 {
		t.Fatalf("after 8s: %v", got)
	}
	if len(*changes) != 2 || clock.armed() != 0 {
		t.Fatalf("second expiry: %v, %d timers armed", *changes, clock.armed())
	}
	if s.ChangedSince(v) == nil {
		t.Fatal("an emptied room must still report its change")
	}
}

func TestTypingTimeoutDefaultAndCap(t *testing.T) {
	if ClampTimeout(0) != DefaultTimeout || ClampTimeout(-5) != DefaultTimeout {
		t.Fatal("default")
	}
	if ClampTimeout(time.Hour) != MaxTimeout || ClampTimeout(time.Second) != time.Second {
		t.Fatal("cap")
	}
	s, clock, _ := newTestService()
	s.Start("!a:x", "@alice:x", 24*time.Hour)
	clock.Advance(MaxTimeout - time.Millisecond)
	if len(s.Current("!a:x")) != 1 {
		t.Fatal("expired before the cap")
	}
	clock.Advance(time.Millisecond)
	if len(s.Current("!a:x")) != 0 {
		t.Fatal("a day-long timeout was not capped")
	}
}

func TestTypingExpiryOnReadWithoutTimer(t *testing.T) {
	// Reads expire entries even if the timer has not run yet (e.g. the
	// timer goroutine is late): move the clock without firing timers.
	s, clock, changes := newTestService()
	s.Start("!a:x", "@alice:x", time.Second)
	*changes = nil
	clock.mu.Lock()
	clock.now = clock.now.Add(2 * time.Second)
	clock.mu.Unlock()
	if len(s.Current("!a:x")) != 0 {
		t.Fatal("stale entry served")
	}
	if !slices.Equal(*changes, []string{"!a:x"}) {
		t.Fatalf("lazy expiry not notified: %v", *changes)
	}
}

func TestTypingVersionStartsFromClock(t *testing.T) {
	s, clock, _ := newTestService()
	if s.Version() != clock.Now().UnixMicro() {
		t.Fatalf("version %d does not start at the clock", s.Version())
	}
}

// Versions follow the clock, so a service built after a restart starts
// above every version the one before handed out, however busy it was.
func TestTypingVersionAfterRestartIsAboveEarlierOnes(t *testing.T) {
	s, clock, _ := newTestService()
	for i := 0; i < 50; i++ {
		s.Start("!a:x", "@u:x", time.Minute)
		s.Stop("!a:x", "@u:x")
	}
	clock.Advance(time.Millisecond)
	before := s.Version()
	after := New(nil, clock)
	if after.Version() <= before {
		t.Fatalf("restarted version %d at or below earlier %d", after.Version(), before)
	}
}
