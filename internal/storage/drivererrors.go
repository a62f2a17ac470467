package storage

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ncruces/go-sqlite3"
)

// IsUniqueViolation reports whether err is a unique or primary-key
// constraint failure, by the driver's error code: SQLite's extended
// result code, PostgreSQL's SQLSTATE 23505.
func IsUniqueViolation(err error) bool {
	var lite *sqlite3.Error
	if errors.As(err, &lite) {
		code := lite.ExtendedCode()
		return code == sqlite3.CONSTRAINT_UNIQUE || code == sqlite3.CONSTRAINT_PRIMARYKEY
	}
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "23505"
}
