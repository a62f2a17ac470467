package cluster

import (
	"encoding/json"
	"fmt"
	"testing"

	"foyer/internal/clientsync"
)

func TestWokenAfterLooksAtNewerWakesOnly(t *testing.T) {
	f := &WakeFeed{notifier: clientsync.NewNotifier()}
	f.record(wake{Seq: 10, Users: []string{"@a:x"}})
	f.record(wake{Seq: 20, Rooms: []string{"!r:x"}})
	cases := []struct {
		pos   int64
		user  string
		rooms []string
		want  bool
	}{
		{5, "@a:x", nil, true},
		{10, "@a:x", nil, false},
		{10, "@b:x", []string{"!r:x"}, true},
		{20, "@b:x", []string{"!r:x"}, false},
		{10, "@b:x", []string{"!other:x"}, false},
	}
	for _, c := range cases {
		if got := f.WokenAfter(c.pos, c.user, c.rooms); got != c.want {
			t.Errorf("WokenAfter(%d, %s, %v) = %v, want %v", c.pos, c.user, c.rooms, got, c.want)
		}
	}
	f.record(wake{Seq: 30, All: true})
	if !f.WokenAfter(25, "@nobody:x", nil) {
		t.Error("a wake of everyone does not count")
	}
}

func TestWokenAfterCountsEvictedWakes(t *testing.T) {
	f := &WakeFeed{notifier: clientsync.NewNotifier()}
	for i := range maxRecentWakes + 10 {
		f.record(wake{Seq: int64(i + 1), Users: []string{"@other:x"}})
	}
	if !f.WokenAfter(5, "@a:x", nil) {
		t.Error("wakes older than the ring's memory may have named anyone: they must count")
	}
	if f.WokenAfter(maxRecentWakes+10, "@a:x", nil) {
		t.Error("nothing newer than the last wake, yet woken")
	}
	if !f.WokenAfter(maxRecentWakes+5, "@other:x", nil) {
		t.Error("the newest wakes are not seen after the ring wrapped")
	}
}

func TestSplitWakeFitsNotifications(t *testing.T) {
	w := wake{Seq: 7}
	for i := range 2000 {
		w.Users = append(w.Users, fmt.Sprintf("@user%04d:example.org", i))
		w.Rooms = append(w.Rooms, fmt.Sprintf("!room%04d:example.org", i), fmt.Sprintf("!room%04d:example.org", i))
	}
	parts := splitWake(w)
	users, rooms := 0, 0
	for _, p := range parts {
		b, _ := json.Marshal(p)
		if len(b) > maxWakePayload {
			t.Fatalf("a notification of %d bytes", len(b))
		}
		if p.Seq != 7 {
			t.Fatalf("a part lost the position: %d", p.Seq)
		}
		users += len(p.Users)
		rooms += len(p.Rooms)
	}
	if users != 2000 || rooms != 2000 {
		t.Fatalf("%d users and %d rooms after splitting, want 2000 each (rooms de-duplicated)", users, rooms)
	}
}
