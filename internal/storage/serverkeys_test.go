package storage

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
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
		if got, err := s.Answers(ctx, "b.example", nil); len(got) != 0 || err != nil {
			t.Fatalf("empty store: %v %v", got, err)
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
		if got, err := s.Answers(ctx, "b.example", []string{"ed25519:one"}); err != nil || len(got) != 1 ||
			string(got[0].Raw) != `{"second":2}` || got[0].ValidUntilTS != 5000 {
			t.Fatalf("answer of the old key: %+v %v", got, err)
		}
		// Another server's keys are apart.
		if _, ok, _ := s.Key(ctx, "c.example", "ed25519:two"); ok {
			t.Fatal("key of another server")
		}
	})
}

// Each key keeps the last answer that listed it: a later answer listing
// only another key leaves it in place. Answers are read for named keys
// (once each, unknown ones left out) or for all of a server's keys.
func TestServerKeyAnswersPerKey(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		s := NewServerKeyStore(db)
		pub1 := ed25519.PublicKey(bytes.Repeat([]byte{1}, 32))
		pub2 := ed25519.PublicKey(bytes.Repeat([]byte{2}, 32))
		first := serverkeys.Response{ServerName: "b.example", Raw: []byte(`{"key":1}`), ValidUntilTS: 1000,
			Keys: []serverkeys.Key{{KeyID: "ed25519:key_1", PublicKey: pub1, ValidUntilTS: 1000}}}
		spurious := serverkeys.Response{ServerName: "b.example", Raw: []byte(`{"key":2}`), ValidUntilTS: 2000,
			Keys: []serverkeys.Key{{KeyID: "ed25519:key_2", PublicKey: pub2, ValidUntilTS: 2000}}}
		other := serverkeys.Response{ServerName: "c.example", Raw: []byte(`{"other":1}`), ValidUntilTS: 3000,
			Keys: []serverkeys.Key{{KeyID: "ed25519:key_1", PublicKey: pub2, ValidUntilTS: 3000}}}
		for i, resp := range []serverkeys.Response{first, spurious, other} {
			if err := s.SaveResponse(ctx, resp, int64(10*(i+1))); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Answers(ctx, "b.example", []string{"ed25519:key_1", "ed25519:key_1", "ed25519:gone"})
		if err != nil || len(got) != 1 || got[0].KeyID != "ed25519:key_1" || string(got[0].Raw) != `{"key":1}` || got[0].ValidUntilTS != 1000 {
			t.Fatalf("key_1 after a spurious answer: %+v %v", got, err)
		}
		all, err := s.Answers(ctx, "b.example", nil)
		if err != nil || len(all) != 2 || all[0].KeyID != "ed25519:key_1" || string(all[1].Raw) != `{"key":2}` || all[1].ValidUntilTS != 2000 {
			t.Fatalf("all answers: %+v %v", all, err)
		}
		if got, err := s.Answers(ctx, "b.example", []string{"ed25519:gone"}); err != nil || len(got) != 0 {
			t.Fatalf("unknown key: %+v %v", got, err)
		}
		// More key IDs than one IN list holds are read in parts.
		many := []string{"ed25519:key_2"}
		for i := range maxInArgs + 10 {
			many = append(many, fmt.Sprintf("ed25519:none_%d", i))
		}
		many = append(many, "ed25519:key_1", "ed25519:key_2")
		if got, err := s.Answers(ctx, "b.example", many); err != nil || len(got) != 2 ||
			got[0].KeyID != "ed25519:key_1" || got[1].KeyID != "ed25519:key_2" {
			t.Fatalf("many key IDs: %+v %v", got, err)
		}
	})
}

// Migration 0051 gives each key its server's one stored answer when that
// answer listed it (same fetch time), and drops the old table.
func TestServerKeyAnswersMigrationCopiesLastAnswers(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		steps := []string{
			`DROP TABLE server_key_answers`,
			`CREATE TABLE server_key_responses (server_name TEXT PRIMARY KEY, response TEXT NOT NULL,
				valid_until_ts BIGINT NOT NULL, fetched_ts BIGINT NOT NULL)`,
			`INSERT INTO server_keys (server_name, key_id, public_key, valid_until_ts, expired_ts, fetched_ts)
				VALUES ('b.example', 'ed25519:new', 'AA', 5000, 0, 20),
				('b.example', 'ed25519:old', 'AA', 0, 1500, 20),
				('b.example', 'ed25519:dropped', 'AA', 1000, 0, 10)`,
			`INSERT INTO server_key_responses (server_name, response, valid_until_ts, fetched_ts)
				VALUES ('b.example', '{"latest":1}', 5000, 20)`,
		}
		for _, step := range steps {
			if _, err := db.Write.ExecContext(ctx, step); err != nil {
				t.Fatal(err)
			}
		}
		ms, err := loadMigrations()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.version == 51 {
				if _, err := db.Write.ExecContext(ctx, dialectSQL(db.Dialect, m.sql)); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := NewServerKeyStore(db).Answers(ctx, "b.example", nil)
		if err != nil || len(got) != 2 || got[0].KeyID != "ed25519:new" || got[1].KeyID != "ed25519:old" ||
			string(got[0].Raw) != `{"latest":1}` || got[1].ValidUntilTS != 5000 {
			t.Fatalf("copied answers: %+v %v", got, err)
		}
		if _, err := db.Read.ExecContext(ctx, `SELECT 1 FROM server_key_responses`); err == nil {
			t.Fatal("server_key_responses still exists")
		}
	})
}
