package storage

import (
	"context"
	"fmt"
	"strings"
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
		// A list of 40 values: on SQLite one JSON parameter, so one text
		// whatever the length, kept; on PostgreSQL a parameter each.
		p := placeholders{}
		keys := make([]string, 40)
		for i := range keys {
			keys[i] = fmt.Sprint(i)
		}
		listQuery := `SELECT COUNT(*) FROM pool_probe WHERE k IN (` + p.list(db.Dialect, keys) + `)`
		var n int
		if err := db.Read.QueryRowContext(ctx, listQuery, p.args...).Scan(&n); err != nil || n != 40 {
			t.Fatalf("count over a list of 40 = %d, %v; want 40", n, err)
		}
		// A query of 30 numbered parameters is run but not kept.
		var ph []string
		var many []any
		for i := range 30 {
			ph = append(ph, fmt.Sprintf("$%d", i+1))
			many = append(many, fmt.Sprint(i))
		}
		manyQuery := `SELECT COUNT(*) FROM pool_probe WHERE k IN (` + strings.Join(ph, ", ") + `)`
		if err := db.Read.QueryRowContext(ctx, manyQuery, many...).Scan(&n); err != nil || n != 30 {
			t.Fatalf("count over 30 parameters = %d, %v; want 30", n, err)
		}
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
		if st, _ := db.Read.kept(listQuery); st == nil {
			t.Fatal("a query over a list was not kept")
		}
		if _, known := db.Read.kept(manyQuery); known {
			t.Fatal("a query of 30 parameters was kept")
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
