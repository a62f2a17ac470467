package matrixevents

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

func TestVerifyEventSignatures(t *testing.T) {
	key, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := BuildEvent(ProtoEvent{RoomVersion: DefaultRoomVersion, RoomID: "!r:remote.example", Sender: "@u:remote.example",
		Type: "m.room.message", Content: map[string]any{"body": "hi"}, PrevEventIDs: []string{"$p"}, AuthEventIDs: []string{"$a"},
		Depth: 3, Origin: "remote.example", Timestamp: time.Now()}, key)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(pub ed25519.PublicKey, err error) EventKeyLookup {
		return func(_ context.Context, server, keyID string, _ int64) (ed25519.PublicKey, error) {
			if server != "remote.example" || keyID != key.KeyID() {
				return nil, errors.New("unknown key")
			}
			return pub, err
		}
	}
	if err := VerifyEventSignatures(context.Background(), ev, lookup(key.PublicKey(), nil)); err != nil {
		t.Fatalf("signed by the sender's server: %v", err)
	}
	if err := VerifyEventSignatures(context.Background(), ev, lookup(other.PublicKey(), nil)); err == nil {
		t.Fatal("checked with another key")
	}
	if err := VerifyEventSignatures(context.Background(), ev, lookup(nil, errors.New("unreachable"))); err == nil {
		t.Fatal("checked without a key")
	}
}
