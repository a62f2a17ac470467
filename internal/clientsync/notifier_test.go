package clientsync

import "testing"

func woken(w *Waiter) bool {
	select {
	case <-w.C:
		return true
	default:
		return false
	}
}

func TestNotifierWakesOnlyListeners(t *testing.T) {
	n := NewNotifier()
	a := n.Listen("@a:hs", []string{"!r1:hs"})
	b := n.Listen("@b:hs", []string{"!r2:hs"})
	peek := n.Listen("", []string{"!r1:hs"})
	n.Wake(nil, []string{"!r1:hs"})
	if !woken(a) || woken(b) || !woken(peek) {
		t.Fatal("room wake reached the wrong waiters")
	}
	n.Wake([]string{"@b:hs"}, nil)
	if woken(a) || !woken(b) {
		t.Fatal("user wake reached the wrong waiters")
	}
	if n.Waiting() != 3 {
		t.Fatalf("waiting %d", n.Waiting())
	}
	n.Stop(a)
	n.Stop(b)
	n.Stop(peek)
	if n.Waiting() != 0 || len(n.byRoom) != 0 || len(n.byUser) != 0 {
		t.Fatal("waiters not removed")
	}
}

func TestWakeDoesNotBlockOnFullChannel(t *testing.T) {
	n := NewNotifier()
	w := n.Listen("@a:hs", nil)
	for i := 0; i < 10; i++ {
		n.Wake([]string{"@a:hs"}, nil)
	}
	if !woken(w) || woken(w) {
		t.Fatal("wakes should coalesce into one")
	}
}
