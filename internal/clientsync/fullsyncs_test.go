package clientsync

import (
	"context"
	"errors"
	"testing"
	"time"
)

// An initial sync waits for a slot while the slots are taken, and gives
// up with its request.
func TestFullSyncWaitsForASlot(t *testing.T) {
	s := &Service{fullSlots: make(chan struct{}, 1)}
	s.fullSlots <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.computeFull(ctx, &Request{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with every slot taken: %v, want the request's deadline", err)
	}
	if cap(newFullSyncSlots()) < 4 {
		t.Fatal("fewer than 4 slots")
	}
}

// The memory of lazy-loaded members sent is bounded by entries, not by
// devices: many devices each sent many members start it over.
func TestLazyMembersBoundedByEntries(t *testing.T) {
	var l lazyMembers
	for d := range 200 {
		req := &Request{UserID: "@u:x", DeviceID: string(rune('A'+d%26)) + string(rune('a'+d/26))}
		for m := range 1000 {
			l.record(req, "!r:x", "@m"+string(rune(m))+":x", "$e")
		}
	}
	if l.entries > maxLazyEntries {
		t.Fatalf("%d entries remembered, cap %d", l.entries, maxLazyEntries)
	}
	total := 0
	for _, members := range l.sent {
		total += len(members)
	}
	if total != l.entries {
		t.Fatalf("counted %d entries, holding %d", l.entries, total)
	}
	req := &Request{UserID: "@u:x", DeviceID: "last"}
	l.record(req, "!r:x", "@a:x", "$1")
	if !l.alreadySent(req, "!r:x", "@a:x", "$1") {
		t.Fatal("a member just recorded is not remembered")
	}
	l.reset(req, "!r:x")
	total = 0
	for _, members := range l.sent {
		total += len(members)
	}
	if l.alreadySent(req, "!r:x", "@a:x", "$1") || l.entries != total {
		t.Fatalf("after reset: remembered %v, entries %d (holding %d)", l.alreadySent(req, "!r:x", "@a:x", "$1"), l.entries, total)
	}
}
