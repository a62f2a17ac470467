package storage

import (
	"context"
	"fmt"
	"testing"
)

// The SQLite pools keep their queries prepared: a query run again is not
// prepared again, queries with long argument lists are not kept, the kept
// ones stay bounded, a script of statements still runs whole, and a bad
// query still reports its own error.
func TestPoolKeepsQueriesPrepared(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		if _, err := db.Write.ExecContext(ctx, `CREATE TABLE pool_probe (k TEXT PRIMARY KEY, v BIGINT NOT NULL); CREATE TABLE pool_probe2 (k TEXT)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO pool_probe2 (k) VALUES ('x')`); err != nil {
			t.Fatalf("the second statement of the script did not run: %v", err)
		}
		for i := range 50 {
			if _, err := db.Write.ExecContext(ctx, `INSERT INTO pool_probe (k, v) VALUES ($1, $2)`, fmt.Sprint(i), i); err != nil {
				t.Fatal(err)
			}
		}
		var sum int64
		for range 20 {
			if err := db.Read.QueryRowContext(ctx, `SELECT COALESCE(SUM(v), 0) FROM pool_probe WHERE v >= $1`, 10).Scan(&sum); err != nil {
				t.Fatal(err)
			}
		}
		if sum != 1180 {
			t.Fatalf("sum = %d, want 1180", sum)
		}
		p := placeholders{}
		keys := make([]string, 40)
		for i := range keys {
			keys[i] = fmt.Sprint(i)
		}
		rows, err := db.Read.QueryContext(ctx, `SELECT COUNT(*) FROM pool_probe WHERE k IN (`+p.list(db.Dialect, keys)+`)`, p.args...)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if _, err := db.Read.QueryContext(ctx, `SELECT nope FROM pool_probe WHERE v = $1`, 1); err == nil {
			t.Fatal("a bad query ran")
		}
		if db.Dialect == Postgres {
			if db.Read.stmts != nil {
				t.Fatal("PostgreSQL's pool keeps statements (its driver does)")
			}
			return
		}
		kept := func(pool *Pool) int {
			pool.stmts.mu.Lock()
			defer pool.stmts.mu.Unlock()
			return len(pool.stmts.stmts)
		}
		if kept(db.Read) == 0 {
			t.Fatal("no read query kept prepared")
		}
		q := `SELECT COALESCE(SUM(v), 0) FROM pool_probe WHERE v >= $1`
		if a, b := db.Read.stmt(ctx, q, 1), db.Read.stmt(ctx, q, 1); a == nil || a != b {
			t.Fatal("a query run again was prepared again")
		}
		if db.Read.stmt(ctx, `SELECT COUNT(*) FROM pool_probe WHERE k IN (`+p.list(db.Dialect, keys)+`)`, len(keys)) != nil {
			t.Fatal("a query of 40 arguments was kept")
		}
		for i := range stmtCacheSize + 10 {
			if err := db.Read.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d + $1`, i), 1).Scan(&sum); err != nil {
				t.Fatal(err)
			}
		}
		if n := kept(db.Read); n > stmtCacheSize {
			t.Fatalf("%d statements kept, more than %d", n, stmtCacheSize)
		}
		if n := kept(db.Write); n == 0 {
			t.Fatal("no write statement kept prepared")
		}
	})
}
