package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"foyer/internal/accounts"
	"foyer/internal/refusal"
)

// AccountCaps cap what one account may store (config account_limits); 0
// leaves a cap off.
type AccountCaps struct {
	Filters              int
	OneTimeKeysPerDevice int
	AccountDataEntries   int
	AccountDataBytes     int64
	// ThreadReceiptsPerRoom caps the threads of one room the account
	// keeps a receipt of one type in.
	ThreadReceiptsPerRoom int
}

// AccountLimits are the caps of guests and of everyone else, and the page
// that explains them to users who reach one.
type AccountLimits struct {
	User, Guest AccountCaps
	InfoURI     string
}

// lockAccount returns the caps of userID's kind of account. On
// PostgreSQL it locks the account's row until tx ends, so what tx counts
// next stays true until its write commits; SQLite has one writer.
func (db *DB) lockAccount(ctx context.Context, tx *sql.Tx, userID string) (caps AccountCaps, guest bool, err error) {
	q := `SELECT kind FROM users WHERE user_id = $1`
	if db.Dialect == Postgres {
		q += ` FOR UPDATE`
	}
	var kind string
	err = tx.QueryRowContext(ctx, q, userID).Scan(&kind)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return db.accountLimits.User, false, nil
	case err != nil:
		return AccountCaps{}, false, fmt.Errorf("locking the account: %w", err)
	case kind == string(accounts.KindGuest):
		return db.accountLimits.Guest, true, nil
	}
	return db.accountLimits.User, false, nil
}

// lockAccounts locks the rows of several accounts on PostgreSQL, always
// in user ID order so that two transactions never wait on each other in
// a cycle.
func (db *DB) lockAccounts(ctx context.Context, tx *sql.Tx, sortedUserIDs []string) error {
	if db.Dialect != Postgres {
		return nil
	}
	for start := 0; start < len(sortedUserIDs); start += maxInArgs {
		chunk := sortedUserIDs[start:min(start+maxInArgs, len(sortedUserIDs))]
		p := placeholders{}
		rows, err := tx.QueryContext(ctx, `SELECT user_id FROM users WHERE user_id IN (`+p.list(db.Dialect, chunk)+`) ORDER BY user_id FOR UPDATE`, p.args...)
		if err != nil {
			return fmt.Errorf("locking accounts: %w", err)
		}
		// Read every row: each is locked as it is returned.
		for rows.Next() {
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("locking accounts: %w", err)
		}
	}
	return nil
}

// overCap is the refusal of a write beyond one of an account's caps.
func (db *DB) overCap(guest bool, format string, args ...any) error {
	e := refusal.New(refusal.UserLimitExceeded, format, args...)
	if guest {
		e.Msg += "; a registered account may store more"
	}
	e.InfoURI = db.accountLimits.InfoURI
	e.CanUpgrade = guest
	return e
}
