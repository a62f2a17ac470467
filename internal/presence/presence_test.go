package presence

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// memStore is a Store in memory that counts its reads.
type memStore struct {
	mu    sync.Mutex
	rows  map[string]Status
	gets  int
	lives int
}

func (m *memStore) Get(_ context.Context, userID string) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	st, ok := m.rows[userID]
	if !ok {
		return Status{}, ErrNotFound
	}
	return st, nil
}

func (m *memStore) Put(_ context.Context, st Status) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows[st.UserID] = st
	return nil
}

func (m *memStore) ChangedBetween(context.Context, int64, int64) ([]Status, error) { return nil, nil }

func (m *memStore) Live(context.Context) ([]Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lives++
	var out []Status
	for _, st := range m.rows {
		if st.Presence != Offline {
			out = append(out, st)
		}
	}
	return out, nil
}

type counter struct {
	mu  sync.Mutex
	pos int64
}

func (c *counter) Reserve(context.Context) (int64, func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos++
	return c.pos, func() {}, nil
}

func newTestService(store *memStore, pos *counter, now *time.Time) *Service {
	s := New(store, pos, "hs", slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.now = func() time.Time { return *now }
	return s
}

// A syncing user's status is read once: later syncs find it in memory.
func TestSyncsReadStoredStatusOnce(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	store, pos := &memStore{rows: map[string]Status{}}, &counter{pos: 10}
	s := newTestService(store, pos, &now)
	for range 5 {
		s.SyncStarted(ctx, "@a:hs", "")
	}
	if store.gets != 1 || store.lives != 1 {
		t.Fatalf("five syncs made %d reads and %d loads, want 1 and 1", store.gets, store.lives)
	}
	if st := store.rows["@a:hs"]; st.Presence != Online || st.StreamPos != 11 {
		t.Fatalf("stored %+v, want online at 11 (one write)", st)
	}
	got, err := s.LiveAmong(ctx, []string{"@a:hs", "@b:hs"}, 11)
	if err != nil || len(got) != 1 || got[0].UserID != "@a:hs" {
		t.Fatalf("LiveAmong = %+v, %v", got, err)
	}
	if got, _ := s.LiveAmong(ctx, []string{"@a:hs"}, 10); len(got) != 0 {
		t.Fatalf("LiveAmong before the status's position = %+v, want none", got)
	}
	now = now.Add(IdleOffline + time.Second)
	s.SweepIdle(ctx)
	if got, _ := s.LiveAmong(ctx, []string{"@a:hs"}, 100); len(got) != 0 {
		t.Fatalf("LiveAmong after the idle sweep = %+v, want none", got)
	}
	if st := store.rows["@a:hs"]; st.Presence != Offline {
		t.Fatalf("stored %+v after the sweep, want offline", st)
	}
}

// Local users stored online before a restart go offline when they do not
// sync again; remote users stay as their server left them.
func TestOnlineBeforeRestartSweptUnlessSyncing(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	store := &memStore{rows: map[string]Status{
		"@gone:hs":     {UserID: "@gone:hs", Presence: Online, LastActiveTS: 1, StreamPos: 1},
		"@back:hs":     {UserID: "@back:hs", Presence: Unavailable, LastActiveTS: 1, StreamPos: 2},
		"@far:remote":  {UserID: "@far:remote", Presence: Online, LastActiveTS: 1, StreamPos: 3},
		"@quiet:hs":    {UserID: "@quiet:hs", Presence: Offline, LastActiveTS: 1, StreamPos: 4},
		"@x:hs.remote": {UserID: "@x:hs.remote", Presence: Online, LastActiveTS: 1, StreamPos: 5},
	}}
	s := newTestService(store, &counter{pos: 10}, &now)
	got, err := s.LiveAmong(ctx, []string{"@gone:hs", "@back:hs", "@far:remote", "@quiet:hs", "@x:hs.remote"}, 10)
	if err != nil || len(got) != 4 || slices.ContainsFunc(got, func(st Status) bool { return st.UserID == "@quiet:hs" }) {
		t.Fatalf("LiveAmong = %+v, %v; want the four not offline", got, err)
	}
	now = now.Add(time.Minute)
	s.SyncStarted(ctx, "@back:hs", Unavailable)
	now = now.Add(IdleOffline)
	s.SweepIdle(ctx)
	want := map[string]string{"@gone:hs": Offline, "@back:hs": Unavailable, "@far:remote": Online, "@quiet:hs": Offline, "@x:hs.remote": Online}
	for u, p := range want {
		if store.rows[u].Presence != p {
			t.Errorf("%s is %s, want %s", u, store.rows[u].Presence, p)
		}
	}
}

// EventJSON encodes what Event renders.
func TestEventJSONIsEvent(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newTestService(&memStore{rows: map[string]Status{}}, &counter{}, &now)
	msg := "away"
	for _, st := range []Status{
		{UserID: "@a:hs", Presence: Online, LastActiveTS: now.UnixMilli() - 5000},
		{UserID: "@b:hs", Presence: Unavailable, StatusMsg: &msg, LastActiveTS: now.UnixMilli() - 120000},
		{UserID: "@c:hs", Presence: Offline},
	} {
		want, _ := json.Marshal(s.Event(st))
		var a, b any
		_ = json.Unmarshal(want, &a)
		if err := json.Unmarshal(s.EventJSON(st), &b); err != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("EventJSON(%s) = %s, want %s", st.UserID, s.EventJSON(st), want)
		}
	}
}
