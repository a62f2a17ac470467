package e2ee

import (
	"context"
	"encoding/json"
	"testing"

	"foyer/internal/clientsync"
)

func TestBetterFollowsTheSpecsMergeRules(t *testing.T) {
	k := func(verified bool, fmi, fc int64) RoomKey {
		return RoomKey{IsVerified: verified, FirstMessageIndex: fmi, ForwardedCount: fc}
	}
	cases := []struct {
		stored, incoming RoomKey
		want             bool
	}{
		{k(false, 0, 0), k(true, 9, 9), true},   // verified wins
		{k(true, 0, 0), k(false, 0, 0), false},  // unverified never replaces verified
		{k(false, 5, 0), k(false, 4, 9), true},  // then lower first_message_index
		{k(false, 4, 0), k(false, 5, 0), false}, //
		{k(true, 4, 3), k(true, 4, 2), true},    // then lower forwarded_count
		{k(true, 4, 2), k(true, 4, 3), false},   //
		{k(true, 4, 2), k(true, 4, 2), false},   // a tie keeps the stored key
	}
	for i, c := range cases {
		if got := Better(c.stored, c.incoming); got != c.want {
			t.Errorf("case %d: Better(%+v, %+v) = %v", i, c.stored, c.incoming, got)
		}
	}
}

func TestSyncTokenCarriesToDevicePosition(t *testing.T) {
	tok := clientsync.Token{Pos: 42, Typing: 3, ToDevice: 17}
	back, ok := clientsync.ParseToken(tok.String())
	if !ok || back != tok {
		t.Fatalf("%q parsed as %+v, %v", tok.String(), back, ok)
	}
	plain, ok := clientsync.ParseToken("s42_3")
	if !ok || plain.ToDevice != 0 || plain.String() != "s42_3" {
		t.Fatalf("plain token: %+v", plain)
	}
	if _, ok := clientsync.ParseToken("s42_3_x"); ok {
		t.Fatal("a malformed to-device part was accepted")
	}
}

// fakeToDevice is just enough of a Store for pendingToDevice.
type fakeToDevice struct {
	Store
	msgs  []ToDeviceMessage
	acked int64
}

func (f *fakeToDevice) AckToDevice(_ context.Context, _, _ string, upTo int64) error {
	f.acked = upTo
	kept := f.msgs[:0]
	for _, m := range f.msgs {
		if m.Pos > upTo {
			kept = append(kept, m)
		}
	}
	f.msgs = kept
	return nil
}

func (f *fakeToDevice) PendingToDevice(_ context.Context, _, _ string, to int64, limit int) ([]ToDeviceMessage, error) {
	var out []ToDeviceMessage
	for _, m := range f.msgs {
		if m.Pos <= to && len(out) < limit {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *fakeToDevice) PendingToDeviceSizes(ctx context.Context, userID, deviceID string, to int64, limit int) ([]QueuedToDevice, error) {
	msgs, _ := f.PendingToDevice(ctx, userID, deviceID, to, limit)
	out := make([]QueuedToDevice, len(msgs))
	for i, m := range msgs {
		out[i] = QueuedToDevice{Pos: m.Pos, Bytes: toDeviceBytes(m)}
	}
	return out, nil
}

func TestPendingToDeviceCapsWithoutSplittingAPosition(t *testing.T) {
	f := &fakeToDevice{}
	// Positions 1..99 hold one message each, position 100 holds two.
	for p := int64(1); p <= 100; p++ {
		f.msgs = append(f.msgs, ToDeviceMessage{Pos: p, Type: "m.test", Content: json.RawMessage(`{}`)})
	}
	f.msgs = append(f.msgs, ToDeviceMessage{Pos: 100, Type: "m.test", Content: json.RawMessage(`{}`)})
	s := &Service{store: f}
	events, limitedAt, err := s.pendingToDevice(context.Background(), "@u:x", "D", 0, 200, MaxToDevicePerSync)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 99 || limitedAt != 99 {
		t.Fatalf("got %d events, limited at %d; want 99 at 99", len(events), limitedAt)
	}
	events, limitedAt, err = s.pendingToDevice(context.Background(), "@u:x", "D", limitedAt, 200, MaxToDevicePerSync)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || limitedAt != 0 || f.acked != 99 {
		t.Fatalf("second batch: %d events, limited at %d, acked %d", len(events), limitedAt, f.acked)
	}
}

func TestToDeviceBatchKeepsToTheByteBudget(t *testing.T) {
	q := func(pos, bytes int64) QueuedToDevice { return QueuedToDevice{Pos: pos, Bytes: bytes} }
	cases := []struct {
		name     string
		queued   []QueuedToDevice
		maxBytes int64
		want     int
	}{
		{"everything fits", []QueuedToDevice{q(1, 10), q(2, 10)}, 100, 2},
		{"stops before the budget", []QueuedToDevice{q(1, 40), q(2, 40), q(3, 40)}, 100, 2},
		{"a large first message still goes", []QueuedToDevice{q(1, 500), q(2, 1)}, 100, 1},
		{"a position is never split", []QueuedToDevice{q(1, 40), q(2, 40), q(2, 40)}, 100, 1},
		{"a large first position goes whole", []QueuedToDevice{q(1, 80), q(1, 80), q(2, 1)}, 100, 2},
		{"no byte budget", []QueuedToDevice{q(1, 1<<40), q(2, 1<<40)}, 0, 2},
		{"nothing queued", nil, 100, 0},
	}
	for _, c := range cases {
		if got := toDeviceBatch(c.queued, MaxToDevicePerSync, c.maxBytes); got != c.want {
			t.Errorf("%s: took %d, want %d", c.name, got, c.want)
		}
	}
}
