package storage

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"testing"
	"time"

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
			db, err := Open(context.Background(), url, dir, AccountLimits{})
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

// Current never passes a position still being written.
func TestStreamOrdering(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		s, err := OpenStream(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		p1, done1 := mustReserve(t, s)
		p2, done2 := mustReserve(t, s)
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
	})
}

// CatchUp waits for the positions handed out before it, not for later
// ones, and gives up after its bound.
func TestStreamCatchUp(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		s, err := OpenStream(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if !s.CatchUp(ctx, time.Second) {
			t.Fatal("nothing in flight, yet not caught up")
		}
		_, done1 := mustReserve(t, s)
		_, done2 := mustReserve(t, s)
		done2()
		if s.CatchUp(ctx, 20*time.Millisecond) {
			t.Fatal("caught up with a position in flight")
		}
		caught := make(chan bool)
		go func() { caught <- s.CatchUp(ctx, 5*time.Second) }()
		time.Sleep(20 * time.Millisecond)
		// A position taken after CatchUp began is not waited for.
		_, done3 := mustReserve(t, s)
		defer done3()
		done1()
		if !<-caught {
			t.Fatal("did not catch up once the earlier writes finished")
		}
	})
}

// A reopened stream (a restart, clean or not) starts above every position
// handed out before, stored or not; blocks are claimed as they run out.
func TestStreamNeverRepeatsAPositionAfterRestart(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		s, err := openStream(ctx, db, 3)
		if err != nil {
			t.Fatal(err)
		}
		var last int64
		for i := 0; i < 7; i++ { // crosses two block boundaries
			p, done := mustReserve(t, s)
			if p <= last {
				t.Fatalf("position %d after %d", p, last)
			}
			last = p
			done() // nothing stored at p, as a no-op write does
		}
		if s.Current() != last {
			t.Fatalf("current %d, want %d", s.Current(), last)
		}
		// Restart without a clean stop: nothing was stored, yet the next
		// position is above every one handed out.
		s2, err := openStream(ctx, db, 3)
		if err != nil {
			t.Fatal(err)
		}
		if s2.Current() < last {
			t.Fatalf("after restart current %d is below the handed-out %d", s2.Current(), last)
		}
		p, done := mustReserve(t, s2)
		done()
		if p <= last {
			t.Fatalf("after restart position %d, at or below the handed-out %d", p, last)
		}
	})
}

// Two streams on one database (the server and an operator subcommand)
// never hand out the same position.
func TestStreamsShareTheCeiling(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		a, err := openStream(ctx, db, 4)
		if err != nil {
			t.Fatal(err)
		}
		b, err := openStream(ctx, db, 4)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int64]bool{}
		for i := 0; i < 10; i++ {
			for _, s := range []*Stream{a, b} {
				p, done := mustReserve(t, s)
				done()
				if seen[p] {
					t.Fatalf("position %d handed out twice", p)
				}
				seen[p] = true
			}
		}
	})
}

func mustReserve(t *testing.T, s *Stream) (int64, func()) {
	t.Helper()
	p, done, err := s.Reserve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p, done
}

// Unique violations are told apart from other constraint failures by the
// drivers' codes, on both databases.
func TestIsUniqueViolation(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		if _, err := db.Write.Exec(`CREATE TABLE uniq_probe (k TEXT PRIMARY KEY, u TEXT UNIQUE, n TEXT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write.Exec(`INSERT INTO uniq_probe (k, u, n) VALUES ($1, $2, $3)`, "a", "x", "n"); err != nil {
			t.Fatal(err)
		}
		_, dupKey := db.Write.Exec(`INSERT INTO uniq_probe (k, u, n) VALUES ($1, $2, $3)`, "a", "y", "n")
		_, dupUnique := db.Write.Exec(`INSERT INTO uniq_probe (k, u, n) VALUES ($1, $2, $3)`, "b", "x", "n")
		_, notNull := db.Write.Exec(`INSERT INTO uniq_probe (k, u, n) VALUES ($1, $2, NULL)`, "c", "z")
		if !IsUniqueViolation(dupKey) || !IsUniqueViolation(dupUnique) {
			t.Fatalf("duplicates not recognised: %v / %v", dupKey, dupUnique)
		}
		if notNull == nil || IsUniqueViolation(notNull) || IsUniqueViolation(errors.New("UNIQUE constraint failed")) {
			t.Fatalf("not-null failure or a mere message taken for a duplicate: %v", notNull)
		}
	})
}

// A second process opening the database while the first is in the middle
// of a write (an operator subcommand beside the server) waits for the lock
// instead of failing.
func TestSQLiteOpenWaitsForAWriter(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(context.Background(), "", dir, AccountLimits{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	tx, err := first.Write.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE stream_ceiling SET ceiling = ceiling + 1 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		close(released)
		_ = tx.Commit()
	}()
	second, err := Open(context.Background(), "", dir, AccountLimits{})
	if err != nil {
		t.Fatalf("opening beside a writer: %v", err)
	}
	defer second.Close()
	if err := second.WithTx(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE stream_ceiling SET ceiling = ceiling + 1 WHERE id = 1`)
		return err
	}); err != nil {
		t.Fatalf("writing beside the first process: %v", err)
	}
	select {
	case <-released:
	default:
		t.Fatal("the second process wrote while the first held the write lock")
	}
}

// Migration 0035 raises the ceiling above rows a database from before the
// ceiling holds, so the stream never needs to scan them.
func TestStreamCeilingMigrationCoversStoredRows(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		if _, err := db.Write.Exec(`UPDATE stream_ceiling SET ceiling = 0 WHERE id = 1`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write.Exec(`INSERT INTO presence (user_id, presence, last_active_ts, stream_pos) VALUES ($1, $2, $3, $4)`,
			"@u:hs", "online", 1, 1000); err != nil {
			t.Fatal(err)
		}
		ms, err := loadMigrations()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.version == 35 {
				if _, err := db.Write.Exec(dialectSQL(db.Dialect, m.sql)); err != nil {
					t.Fatal(err)
				}
			}
		}
		s, err := openStream(ctx, db, 3)
		if err != nil {
			t.Fatal(err)
		}
		if p, done := mustReserve(t, s); p != 1001 {
			t.Fatalf("next position %d, want 1001", p)
		} else {
			done()
		}
	})
}
