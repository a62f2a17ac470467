package clientsync

import (
	"testing"

	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

func TestSameEventsRangeKeepsTheSameEvents(t *testing.T) {
	c := newChangeIndex(10)
	for _, pos := range []int64{14, 12, 20} {
		c.recordEvent(rooms.StoredEvent{Event: message(t), StreamPos: pos})
	}
	for _, tc := range []struct{ lower, upper, wantLower, wantUpper int64 }{
		{13, 19, 12, 14}, // holds 14 only
		{15, 19, 14, 14}, // holds nothing
		{11, 25, 10, 20}, // 12, 14, 20
		{5, 25, 5, 20},   // before the index started: lower stays
	} {
		lo, hi := c.sameEventsRange("!r:x", tc.lower, tc.upper)
		if lo != tc.wantLower || hi != tc.wantUpper {
			t.Errorf("(%d, %d]: got (%d, %d], want (%d, %d]", tc.lower, tc.upper, lo, hi, tc.wantLower, tc.wantUpper)
		}
	}
	// Past the kept positions, the floor moves up with the oldest dropped.
	for pos := int64(30); pos < 30+recentEventsKept; pos++ {
		c.recordEvent(rooms.StoredEvent{Event: message(t), StreamPos: pos})
	}
	if lo, _ := c.sameEventsRange("!r:x", 13, 40); lo != 13 {
		t.Errorf("a lower bound the index no longer covers moved to %d", lo)
	}
}

func message(t *testing.T) matrixevents.Event {
	t.Helper()
	ev, err := matrixevents.ParseTrusted("10", []byte(`{"type":"m.room.message","room_id":"!r:x","sender":"@a:x","content":{},"origin_server_ts":1,"depth":1,"prev_events":[],"auth_events":[],"event_id":"$e"}`))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
