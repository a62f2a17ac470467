package storage

import (
	"context"
	"testing"
	"time"
)

// A transaction's answer is kept per origin and ID, the first one stays,
// and answers older than a day go when a new one is written.
func TestFederationTxnStore(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		s := NewFederationTxnStore(db)
		now := time.UnixMilli(1_000_000_000_000)
		if err := s.SaveAnswer(ctx, "b.example", "t1", []byte(`{"pdus":{}}`), now); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveAnswer(ctx, "b.example", "t1", []byte(`{"other":1}`), now); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := s.Answer(ctx, "b.example", "t1"); err != nil || !ok || string(got) != `{"pdus":{}}` {
			t.Fatalf("answer: %s %v %v", got, ok, err)
		}
		if _, ok, err := s.Answer(ctx, "c.example", "t1"); ok || err != nil {
			t.Fatalf("another origin's transaction: %v %v", ok, err)
		}
		later := now.Add(25 * time.Hour)
		if err := s.SaveAnswer(ctx, "b.example", "t2", []byte(`{}`), later); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.Answer(ctx, "b.example", "t1"); ok || err != nil {
			t.Fatalf("a day-old answer is kept: %v %v", ok, err)
		}
		if _, ok, err := s.Answer(ctx, "b.example", "t2"); !ok || err != nil {
			t.Fatalf("the new answer: %v %v", ok, err)
		}
	})
}
