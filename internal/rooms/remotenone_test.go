package rooms

import "testing"

// A read that found none is remembered, unless a remote membership of
// anyone was stored while it ran; storing one forgets the user.
func TestRemoteNoneForgetsRacingReads(t *testing.T) {
	var n remoteNone
	if none, _ := n.known("@a:hs"); none {
		t.Fatal("a user never read is known to have none")
	}
	_, gen := n.known("@a:hs")
	n.remember("@a:hs", gen)
	if none, _ := n.known("@a:hs"); !none {
		t.Fatal("a read that found none was not remembered")
	}
	n.forget("@a:hs")
	if none, _ := n.known("@a:hs"); none {
		t.Fatal("a stored membership did not forget the user")
	}
	// The read begins, a membership is stored meanwhile, the read ends
	// having missed it: not remembered.
	_, gen = n.known("@b:hs")
	n.forget("@b:hs")
	n.remember("@b:hs", gen)
	if none, _ := n.known("@b:hs"); none {
		t.Fatal("a read that raced a write was remembered")
	}
}
