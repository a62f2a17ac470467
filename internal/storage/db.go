// Package storage opens Foyer's database — SQLite in the data directory by
// default, PostgreSQL when a URL is given — and migrates it. The stores for
// each area live in files of their own beside this one.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "github.com/ncruces/go-sqlite3/driver"
)

// Dialect names the SQL flavour in the few places where the two differ.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is the database: one writer connection pool and one reader pool. On
// SQLite the writer is a single connection so writes queue in Go instead of
// failing with "database is locked"; on PostgreSQL both are one pool.
type DB struct {
	Dialect Dialect
	Write   *Pool
	Read    *Pool

	// accountLimits are the per-account caps (accountcaps.go).
	accountLimits AccountLimits

	// keyCounts and deviceLists spare syncs their end-to-end encryption
	// queries while nothing changed (keycountcache.go, devicelistindex.go).
	keyCounts   keyCountCache
	deviceLists deviceListIndex
}

// Open connects to PostgreSQL when url is set, otherwise to SQLite at
// dataDir/foyer.db, and applies any pending migrations. The stores over
// it enforce limits (a zero AccountLimits caps nothing).
func Open(ctx context.Context, url, dataDir string, limits AccountLimits) (*DB, error) {
	var db *DB
	var err error
	if url != "" {
		db, err = openPostgres(url)
	} else {
		db, err = openSQLite(dataDir)
	}
	if err != nil {
		return nil, err
	}
	if err := db.Write.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	if err := Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	db.accountLimits = limits
	return db, nil
}

func openPostgres(url string) (*DB, error) {
	pool, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("opening PostgreSQL: %w", err)
	}
	pool.SetMaxOpenConns(20)
	pool.SetMaxIdleConns(10)
	shared := newPool(pool, false)
	return &DB{Dialect: Postgres, Write: shared, Read: shared}, nil
}

// sqlitePragmas: WAL lets readers run beside the writer; synchronous=FULL
// makes every commit durable before we answer 200; busy_timeout covers the
// operator subcommands writing while the server runs. The driver applies
// them in order on each new connection; busy_timeout goes first so that
// what follows waits for a lock instead of failing at once. Only the
// switch of a new database to WAL cannot wait: SQLite refuses it at once
// while another connection reads, whatever the order; the serving process
// creates the database, so that happens only when a second process opens
// a database still being created.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=synchronous(full)&_pragma=foreign_keys(on)"

func openSQLite(dataDir string) (*DB, error) {
	if dataDir == "" {
		return nil, errors.New("no data directory for the SQLite database")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	path := filepath.Join(dataDir, "foyer.db")
	dsn := "file:" + filepath.ToSlash(path) + "?_txlock=immediate&" + sqlitePragmas
	w, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening SQLite: %w", err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(path)+"?_txlock=deferred&"+sqlitePragmas+"&_pragma=query_only(true)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening SQLite: %w", err)
	}
	r.SetMaxOpenConns(8)
	// Opening a connection costs more than most queries (each is its own
	// SQLite instance): keep them while busy, close them once idle.
	r.SetMaxIdleConns(8)
	r.SetConnMaxIdleTime(time.Minute)
	return &DB{Dialect: SQLite, Write: newPool(w, true), Read: newPool(r, true)}, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	err := db.Write.Close()
	if db.Read != db.Write {
		err = errors.Join(err, db.Read.Close())
	}
	return err
}

// WithTx runs fn in a write transaction, committing when fn returns nil.
func (db *DB) WithTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
