package appservicesender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"foyer/internal/appservice"
	"foyer/internal/config"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// fakeStream is a stream whose position the test moves.
type fakeStream struct {
	mu  sync.Mutex
	cur int64
	fns []func(int64)
}

func (s *fakeStream) Current() int64 { s.mu.Lock(); defer s.mu.Unlock(); return s.cur }
func (s *fakeStream) OnAdvance(f func(int64)) {
	s.mu.Lock()
	s.fns = append(s.fns, f)
	s.mu.Unlock()
}
func (s *fakeStream) advance(to int64) {
	s.mu.Lock()
	s.cur = to
	fns := s.fns
	s.mu.Unlock()
	for _, f := range fns {
		f(to)
	}
}

// fakeFeed holds events by stream position; bridged is the one room a
// namespaced user is joined to.
type fakeFeed struct {
	mu     sync.Mutex
	events []rooms.StoredEvent
}

func (f *fakeFeed) EventsAfter(_ context.Context, from, to int64, limit int) ([]rooms.StoredEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []rooms.StoredEvent
	for _, e := range f.events {
		if e.StreamPos > from && e.StreamPos <= to && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}
func (f *fakeFeed) JoinedUsers(_ context.Context, roomID string) ([]string, error) {
	if roomID == "!bridged:example.org" {
		return []string{"@irc_bob:example.org", "@carol:example.org"}, nil
	}
	return []string{"@carol:example.org"}, nil
}
func (f *fakeFeed) AliasesForRoom(context.Context, string) ([]string, error) { return nil, nil }
func (f *fakeFeed) RoomsWithMembership(context.Context, string, ...string) ([]string, error) {
	return nil, nil
}
func (f *fakeFeed) ToDeviceAfter(context.Context, int64, int64) ([]ToDevice, error) { return nil, nil }
func (f *fakeFeed) DeviceListChangesAfter(context.Context, int64, int64) ([]string, error) {
	return nil, nil
}

// memStore is Store in memory.
type memStore struct {
	mu sync.Mutex
	st map[string]State
}

func (m *memStore) State(_ context.Context, id string, start int64) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.st[id]
	if !ok {
		st = State{SentPos: start, NextTxn: 1}
		m.st[id] = st
	}
	return st, nil
}
func (m *memStore) SavePending(_ context.Context, id string, p Pending) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st[id]
	st.Pending = &p
	m.st[id] = st
	return nil
}
func (m *memStore) Delivered(_ context.Context, id string, p Pending, next *Pending) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st[id] = State{SentPos: p.Upto, NextTxn: p.TxnID + 1, Pending: next}
	return nil
}
func (m *memStore) Advance(_ context.Context, id string, pos int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st[id]
	if st.Pending == nil && st.SentPos < pos {
		st.SentPos = pos
	}
	m.st[id] = st
	return nil
}

// flakyTransport refuses the first fail attempts and records every one.
type flakyTransport struct {
	mu       sync.Mutex
	fail     int
	attempts []string // txnID + " " + body
	accepted []string
}

func (t *flakyTransport) PutTransaction(_ context.Context, _ *appservice.Service, txnID string, body []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.attempts = append(t.attempts, txnID+" "+string(body))
	if t.fail > 0 {
		t.fail--
		return errors.New("service down")
	}
	t.accepted = append(t.accepted, txnID+" "+string(body))
	return nil
}

func testService(t *testing.T) *appservice.Service {
	path := filepath.Join(t.TempDir(), "irc.yaml")
	body := "id: irc\nurl: http://127.0.0.1:1\nas_token: a\nhs_token: h\nsender_localpart: ircbot\n" +
		"namespaces:\n  users:\n  - exclusive: true\n    regex: '@irc_.*'\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.AppServices = []string{path}
	regs, err := cfg.LoadAppServices()
	if err != nil {
		t.Fatal(err)
	}
	return appservice.NewRegistry(regs, "example.org").ByID("irc")
}

// parseForTest completes a test event's JSON with the fields every PDU
// has and parses it.
func parseForTest(raw string) (matrixevents.Event, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return matrixevents.Event{}, err
	}
	for k, v := range map[string]any{"origin_server_ts": 1, "depth": 1, "prev_events": []any{}, "auth_events": []any{},
		"hashes": map[string]any{"sha256": "x"}, "signatures": map[string]any{}} {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	full, _ := json.Marshal(m)
	return matrixevents.ParseTrusted("10", full)
}

func message(t *testing.T, pos int64, roomID, body string) rooms.StoredEvent {
	raw := fmt.Sprintf(`{"room_id":%q,"sender":"@carol:example.org","type":"m.room.message","content":{"body":%q},`+
		`"origin_server_ts":1,"depth":%d,"prev_events":[],"auth_events":[],"hashes":{"sha256":"x"},"signatures":{}}`, roomID, body, pos)
	ev, err := matrixevents.ParseTrusted("10", []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return rooms.StoredEvent{Event: ev, StreamPos: pos}
}

// The events of the bridged room, and only those, are sent in stream
// order; a refused transaction is sent again with the same ID and body;
// a sender started again over the same store resumes after the last
// delivered position.
func TestSenderOrderRetryResume(t *testing.T) {
	as := testService(t)
	stream := &fakeStream{}
	feed := &fakeFeed{}
	store := &memStore{st: map[string]State{}}
	transport := &flakyTransport{fail: 2}
	opts := Options{Services: []*appservice.Service{as}, Feed: feed, Stream: stream, Store: store, Transport: transport,
		Format: func(_ context.Context, evs []rooms.StoredEvent) []matrixevents.ClientEvent {
			out := make([]matrixevents.ClientEvent, len(evs))
			for i, e := range evs {
				out[i] = matrixevents.ToClientEvent(e.Event, nil)
			}
			return out
		},
		MaxEvents: 2, MaxBackoff: 5 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s := New(opts)
	s.Start()
	for i := int64(1); i <= 5; i++ {
		room := "!bridged:example.org"
		if i == 3 {
			room = "!other:example.org"
		}
		feed.mu.Lock()
		feed.events = append(feed.events, message(t, i, room, fmt.Sprintf("m%d", i)))
		feed.mu.Unlock()
	}
	stream.advance(5)
	waitFor(t, func() bool {
		st, _ := store.State(context.Background(), "irc", 0)
		return st.SentPos == 5 && st.Pending == nil
	})
	s.Stop()

	transport.mu.Lock()
	if len(transport.attempts) < 3 || transport.attempts[0] != transport.attempts[1] || transport.attempts[1] != transport.attempts[2] {
		t.Errorf("a refused transaction was not sent again as it was: %q", transport.attempts)
	}
	var bodies []string
	for i, a := range transport.accepted {
		txnID, rest, _ := strings.Cut(a, " ")
		if txnID != strconv.Itoa(i+1) {
			t.Errorf("transaction %d has ID %s", i+1, txnID)
		}
		var txn struct {
			Events []struct {
				Content struct{ Body string } `json:"content"`
				RoomID  string                `json:"room_id"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(rest), &txn); err != nil {
			t.Fatal(err)
		}
		for _, e := range txn.Events {
			bodies = append(bodies, e.Content.Body)
		}
	}
	transport.mu.Unlock()
	if fmt.Sprint(bodies) != "[m1 m2 m4 m5]" {
		t.Errorf("delivered %v, want [m1 m2 m4 m5]", bodies)
	}

	// Resumed over the same store: only what is new is sent.
	feed.mu.Lock()
	feed.events = append(feed.events, message(t, 6, "!bridged:example.org", "m6"))
	feed.mu.Unlock()
	s2 := New(opts)
	s2.Start()
	defer s2.Stop()
	stream.advance(6)
	waitFor(t, func() bool {
		st, _ := store.State(context.Background(), "irc", 0)
		return st.SentPos == 6 && st.Pending == nil
	})
	transport.mu.Lock()
	last := transport.accepted[len(transport.accepted)-1]
	transport.mu.Unlock()
	_, lastBody, _ := strings.Cut(last, " ")
	if !json.Valid([]byte(lastBody)) || !strings.Contains(lastBody, `"m6"`) || strings.Contains(lastBody, `"m5"`) {
		t.Errorf("after the restart: %s", last)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
