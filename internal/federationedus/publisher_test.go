package federationedus

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"foyer/internal/clientdata"
	"foyer/internal/presence"
	"foyer/internal/rooms"
)

type queued struct {
	to  []string
	edu map[string]any
}

type fakeQueue struct {
	mu  sync.Mutex
	got []queued
}

func (q *fakeQueue) QueueEDU(_ context.Context, to []string, edu json.RawMessage) error {
	var m map[string]any
	if err := json.Unmarshal(edu, &m); err != nil {
		return err
	}
	q.mu.Lock()
	q.got = append(q.got, queued{slices.Clone(to), m})
	q.mu.Unlock()
	return nil
}

type fakeRooms struct{}

func (fakeRooms) MemberCounts(context.Context, string) (rooms.MemberSummary, error) {
	return rooms.MemberSummary{JoinedServers: []string{"here.test", "there.test"}}, nil
}
func (fakeRooms) JoinedRooms(context.Context, string) ([]string, error) {
	return []string{"!r:here.test"}, nil
}
func (fakeRooms) Current(context.Context, string) (rooms.RoomSnapshot, error) {
	return rooms.RoomSnapshot{}, nil
}

type fakeTyping struct{ users []string }

func (f *fakeTyping) Current(string) []string { return f.users }

type fakePresence struct{}

func (fakePresence) Get(_ context.Context, userID string) (presence.Status, error) {
	return presence.Status{UserID: userID, Presence: presence.Offline}, nil
}

func (fakePresence) Event(st presence.Status) map[string]any {
	c := map[string]any{"presence": st.Presence, "last_active_ago": int64(7)}
	if st.StatusMsg != nil {
		c["status_msg"] = *st.StatusMsg
	}
	return map[string]any{"content": c}
}

// Presence changes between two flushes leave as one update, the latest;
// other servers' users and our own server are never sent anything.
func TestPresenceIsCoalesced(t *testing.T) {
	q := &fakeQueue{}
	p := New(q, fakeRooms{}, &fakeTyping{}, fakePresence{}, Options{ServerName: "here.test"})
	for i, state := range []string{"online", "unavailable", "online", "offline"} {
		msg := string(rune('a' + i))
		p.PresenceChanged(presence.Status{UserID: "@al:here.test", Presence: state, StatusMsg: &msg})
	}
	p.PresenceChanged(presence.Status{UserID: "@rita:there.test", Presence: "online"})
	p.flush(context.Background())
	if len(q.got) != 1 {
		t.Fatalf("%d EDUs queued, want 1: %+v", len(q.got), q.got)
	}
	got := q.got[0]
	push, _ := got.edu["content"].(map[string]any)["push"].([]any)
	if !slices.Equal(got.to, []string{"there.test"}) || got.edu["edu_type"] != "m.presence" || len(push) != 1 {
		t.Fatalf("queued %+v", got)
	}
	u := push[0].(map[string]any)
	if u["user_id"] != "@al:here.test" || u["presence"] != "offline" || u["status_msg"] != "d" || u["last_active_ago"] != float64(7) {
		t.Fatalf("presence update %v", u)
	}
	p.flush(context.Background())
	if len(q.got) != 1 {
		t.Fatalf("a flush with nothing pending queued %+v", q.got[1:])
	}
}

// A local user still typing is announced again once TypingRefresh has
// passed, so receivers that time remote typing out keep showing it.
func TestTypingIsRefreshed(t *testing.T) {
	q := &fakeQueue{}
	ty := &fakeTyping{users: []string{"@al:here.test", "@rita:there.test"}}
	p := New(q, fakeRooms{}, ty, fakePresence{}, Options{ServerName: "here.test", TypingRefresh: time.Minute})
	clock := time.Now()
	p.now = func() time.Time { return clock }
	p.TypingChanged("!r:here.test")
	p.flush(context.Background())
	clock = clock.Add(time.Minute)
	p.flush(context.Background())
	ty.users = nil
	p.TypingChanged("!r:here.test")
	p.flush(context.Background())
	var typing []any
	for _, e := range q.got {
		c := e.edu["content"].(map[string]any)
		if c["user_id"] != "@al:here.test" {
			t.Fatalf("typing of a remote user sent: %v", c)
		}
		typing = append(typing, c["typing"])
	}
	if !slices.Equal(typing, []any{true, true, false}) {
		t.Fatalf("typing EDUs %v, want start, refresh, stop", typing)
	}
}

// A user's receipts in two threads of one room both leave.
func TestThreadedReceiptsAreKeptApart(t *testing.T) {
	q := &fakeQueue{}
	p := New(q, fakeRooms{}, &fakeTyping{}, fakePresence{}, Options{ServerName: "here.test"})
	for _, th := range []string{"", "main", "$root"} {
		p.ReceiptStored(clientdata.Receipt{RoomID: "!r:here.test", Type: clientdata.ReceiptRead, UserID: "@al:here.test", ThreadID: th, EventID: "$e" + th, TS: 5})
	}
	p.ReceiptStored(clientdata.Receipt{RoomID: "!r:here.test", Type: clientdata.ReceiptReadPrivate, UserID: "@al:here.test", EventID: "$private", TS: 5})
	p.flush(context.Background())
	threads := map[string]bool{}
	for _, e := range q.got {
		raw, _ := json.Marshal(e.edu["content"])
		var c map[string]map[string]map[string]struct {
			EventIDs []string       `json:"event_ids"`
			Data     map[string]any `json:"data"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		r := c["!r:here.test"]["m.read"]["@al:here.test"]
		th, _ := r.Data["thread_id"].(string)
		threads[th] = true
		if len(r.EventIDs) != 1 || r.EventIDs[0] != "$e"+th {
			t.Fatalf("receipt %s", raw)
		}
	}
	if len(threads) != 3 || len(q.got) != 3 {
		t.Fatalf("threads sent %v in %d EDUs", threads, len(q.got))
	}
}
