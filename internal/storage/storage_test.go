package storage

import (
	"context"
	"os"
	"testing"

	"foyer/internal/testharness/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func eachDB(t *testing.T, fn func(t *testing.T, db *DB)) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			url := ""
			if backend == "postgres" {
				url = pgtest.URL(t)
			}
			dir := t.TempDir()
			db, err := Open(context.Background(), url, dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			fn(t, db)
		})
	}
}

// Migrations apply once, are recorded, and a second run is a no-op.
func TestMigrationsAreRecordedAndIdempotent(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ms, err := loadMigrations()
		if err != nil {
			t.Fatal(err)
		}
		v, err := SchemaVersion(context.Background(), db)
		if err != nil || v != ms[len(ms)-1].version {
			t.Fatalf("schema version %d (%v), want %d", v, err, ms[len(ms)-1].version)
		}
		if err := Migrate(context.Background(), db); err != nil {
			t.Fatalf("second migration run: %v", err)
		}
		var n int
		if err := db.Read.QueryRow(`SELECT COUNT(*) FROM schema_version`).Scan(&n); err != nil || n != len(ms) {
			t.Fatalf("%d schema_version rows, want %d", n, len(ms))
		}
	})
}

// Every migration file is numbered uniquely and named NNNN_name.sql.
func TestMigrationFilesAreWellFormed(t *testing.T) {
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != len(entries) {
		t.Fatalf("%d files, %d migrations", len(entries), len(ms))
	}
}

// The stream resumes above every stored position after a restart, and
// Current never passes a position still being written.
func TestStreamOrdering(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		s, err := OpenStream(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		p1, done1 := s.Reserve()
		p2, done2 := s.Reserve()
		if p2 != p1+1 {
			t.Fatalf("positions %d then %d", p1, p2)
		}
		done2()
		if s.Current() >= p1 {
			t.Fatalf("current %d passed in-flight position %d", s.Current(), p1)
		}
		var advanced []int64
		s.OnAdvance(func(c int64) { advanced = append(advanced, c) })
		done1()
		if s.Current() != p2 || len(advanced) != 1 || advanced[0] != p2 {
			t.Fatalf("current %d, advanced %v; want %d", s.Current(), advanced, p2)
		}
		// A stored row at a high position moves the next start above it.
		if _, err := db.Write.Exec(`INSERT INTO presence (user_id, presence, last_active_ts, stream_pos) VALUES ($1, $2, $3, $4)`,
			"@u:hs", "online", 1, 1000); err != nil {
			t.Fatal(err)
		}
		s2, err := OpenStream(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		if p, done := s2.Reserve(); p != 1001 {
			t.Fatalf("after restart next position %d, want 1001", p)
		} else {
			done()
		}
	})
}
