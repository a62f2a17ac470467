package main

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"foyer/bench/benchserver"
)

// freshDatabase creates an empty database on the PostgreSQL server of
// base (a URL naming one of its databases) and returns its URL and a
// function that drops it: every run starts from nothing, as on SQLite.
func freshDatabase(base string) (string, func()) {
	admin, err := sql.Open("pgx", base)
	benchserver.Check(err)
	name := fmt.Sprintf("foyer_bench_%d_%d", os.Getpid(), time.Now().UnixNano())
	_, err = admin.Exec("CREATE DATABASE " + name)
	benchserver.Check(err)
	slash := strings.LastIndexByte(base, '/')
	rest := ""
	if q := strings.IndexByte(base[slash:], '?'); q >= 0 {
		rest = base[slash+q:]
	}
	return base[:slash+1] + name + rest, func() {
		_, _ = admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		admin.Close()
	}
}
