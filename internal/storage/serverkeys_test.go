package storage

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"

	"foyer/internal/serverkeys"
)

// A server's keys are stored with their validity; a later answer that
// lists a key as old marks it expired, and keys it no longer lists stay.
func TestServerKeyStore(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		s := NewServerKeyStore(db)
		pub1 := ed25519.PublicKey(bytes.Repeat([]byte{1}, 32))
		pub2 := ed25519.PublicKey(bytes.Repeat([]byte{2}, 32))
		if _, ok, err := s.Key(ctx, "b.example", "ed25519:one"); ok || err != nil {
			t.Fatalf("empty store: %v %v", ok, err)
		}
		if _, _, ok, err := s.Response(ctx, "b.example"); ok || err != nil {
			t.Fatalf("empty store: %v %v", ok, err)
		}
		first := serverkeys.Response{ServerName: "b.example", Raw: []byte(`{"first":1}`), ValidUntilTS: 1000,
			Keys: []serverkeys.Key{{KeyID: "ed25519:one", PublicKey: pub1, ValidUntilTS: 1000}}}
		if err := s.SaveResponse(ctx, first, 10); err != nil {
			t.Fatal(err)
		}
		k, ok, err := s.Key(ctx, "b.example", "ed25519:one")
		if err != nil || !ok || !k.PublicKey.Equal(pub1) || k.ValidUntilTS != 1000 || k.ExpiredTS != 0 {
			t.Fatalf("first key: %+v %v %v", k, ok, err)
		}
		second := serverkeys.Response{ServerName: "b.example", Raw: []byte(`{"second":2}`), ValidUntilTS: 5000,
			Keys: []serverkeys.Key{
				{KeyID: "ed25519:two", PublicKey: pub2, ValidUntilTS: 5000},
				{KeyID: "ed25519:one", PublicKey: pub1, ExpiredTS: 1500},
			}}
		if err := s.SaveResponse(ctx, second, 20); err != nil {
			t.Fatal(err)
		}
		k, _, _ = s.Key(ctx, "b.example", "ed25519:one")
		if k.ExpiredTS != 1500 || k.Current(1200) || !k.ValidAt(1200) || k.ValidAt(1600) {
			t.Fatalf("old key: %+v", k)
		}
		k, _, _ = s.Key(ctx, "b.example", "ed25519:two")
		if !k.PublicKey.Equal(pub2) || !k.Current(4000) {
			t.Fatalf("new key: %+v", k)
		}
		raw, validUntil, ok, err := s.Response(ctx, "b.example")
		if err != nil || !ok || string(raw) != `{"second":2}` || validUntil != 5000 {
			t.Fatalf("response: %s %d %v %v", raw, validUntil, ok, err)
		}
		// Another server's keys are apart.
		if _, ok, _ := s.Key(ctx, "c.example", "ed25519:two"); ok {
			t.Fatal("key of another server")
		}
	})
}
