package slidingsync

import (
	"fmt"
	"testing"
	"time"
)

// A device keeps at most maxConnectionsPerDevice connections (the least
// recently used goes); an idle connection expires; a pos names only the
// state it was given for, and using one forgets the others.
func TestConnectionsAreBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	cs := newConnections()
	cs.now = func() time.Time { return now }
	var first position
	for i := 0; i <= maxConnectionsPerDevice; i++ {
		c := cs.start(connKey{"@u:x", "D", fmt.Sprint(i)})
		n, ok := cs.record(c, newConnState())
		c.mu.Unlock()
		if !ok {
			t.Fatal("record refused")
		}
		if i == 0 {
			first = position{nonce: c.nonce, state: n}
		}
		now = now.Add(time.Second)
	}
	if _, _, ok := cs.resume(connKey{"@u:x", "D", "0"}, first); ok {
		t.Fatal("the least recently used connection was kept beyond the device's cap")
	}
	if len(cs.byKey) != maxConnectionsPerDevice {
		t.Fatalf("%d connections", len(cs.byKey))
	}
	// Another device is not limited by this one's connections.
	other := cs.start(connKey{"@u:x", "E", ""})
	n, _ := cs.record(other, newConnState())
	other.mu.Unlock()
	pos := position{nonce: other.nonce, state: n}

	// States: using n forgets n+1's siblings but keeps n.
	c, st, ok := cs.resume(connKey{"@u:x", "E", ""}, pos)
	if !ok || st == nil {
		t.Fatal("a fresh pos is unknown")
	}
	n2, _ := cs.record(c, st.clone())
	c.mu.Unlock()
	c, _, ok = cs.resume(connKey{"@u:x", "E", ""}, position{nonce: other.nonce, state: n2})
	if !ok {
		t.Fatal("the new pos is unknown")
	}
	c.mu.Unlock()
	if _, _, ok := cs.resume(connKey{"@u:x", "E", ""}, pos); ok {
		t.Fatal("the pos before last is still known")
	}
	// A wrong nonce (a connection started again) is unknown.
	if _, _, ok := cs.resume(connKey{"@u:x", "E", ""}, position{nonce: "other", state: n2}); ok {
		t.Fatal("a pos of another connection was accepted")
	}
	// Idle for longer than connectionIdle: gone.
	now = now.Add(connectionIdle + time.Minute)
	if _, _, ok := cs.resume(connKey{"@u:x", "E", ""}, position{nonce: other.nonce, state: n2}); ok {
		t.Fatal("an expired connection answered")
	}
}

// A connection sent more rooms than it may remember is dropped rather
// than kept growing.
func TestConnectionDroppedWhenTooLarge(t *testing.T) {
	cs := newConnections()
	c := cs.start(connKey{"@u:x", "D", ""})
	st := newConnState()
	for i := 0; i <= maxRoomsPerConnection; i++ {
		st.rooms[fmt.Sprint(i)] = roomSent{status: sentLive}
	}
	if _, ok := cs.record(c, st); ok {
		t.Fatal("an oversized state was recorded")
	}
	c.mu.Unlock()
	if len(cs.byKey) != 0 {
		t.Fatal("the connection was kept")
	}
}

func TestPositionRoundTrip(t *testing.T) {
	p := position{nonce: "abc123", state: 4, stream: 99, typing: 7}
	got, ok := parsePosition(p.String())
	if !ok || got != p {
		t.Fatalf("%q parsed as %+v %v", p.String(), got, ok)
	}
	for _, bad := range []string{"", "abc", "_1_2_3", "a_1_2", "a_-1_2_3", "a_1_x_3", "a_1_2_3_4"} {
		if _, ok := parsePosition(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
