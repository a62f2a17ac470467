package storage

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"foyer/internal/clientsync"
)

// FilterStore implements clientsync.FilterStore.
type FilterStore struct{ db *DB }

// NewFilterStore returns the filter store over db.
func NewFilterStore(db *DB) *FilterStore { return &FilterStore{db: db} }

// CreateFilter stores a filter, or returns the ID of the same filter
// stored before: clients upload theirs at every start, and an unchanged
// filter should not use up the account's cap (account_limits.max_filters).
func (s *FilterStore) CreateFilter(ctx context.Context, userID string, filter []byte) (string, error) {
	var id int64
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		caps, guest, err := s.db.lockAccount(ctx, tx, userID)
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `SELECT filter_id FROM filters WHERE user_id = $1 AND filter = $2 ORDER BY filter_id LIMIT 1`,
			userID, string(filter)).Scan(&id)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if caps.Filters > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM filters WHERE user_id = $1`, userID).Scan(&n); err != nil {
				return err
			}
			if n >= caps.Filters {
				return s.db.overCap(guest, "this account already has %d filters, the most it may have", caps.Filters)
			}
		}
		return tx.QueryRowContext(ctx, `INSERT INTO filters (user_id, filter) VALUES ($1, $2) RETURNING filter_id`,
			userID, string(filter)).Scan(&id)
	})
	return strconv.FormatInt(id, 10), err
}

func (s *FilterStore) GetFilter(ctx context.Context, userID, filterID string) ([]byte, error) {
	id, err := strconv.ParseInt(filterID, 10, 64)
	if err != nil {
		return nil, clientsync.ErrFilterNotFound
	}
	var f string
	err = s.db.Read.QueryRowContext(ctx, `SELECT filter FROM filters WHERE user_id = $1 AND filter_id = $2`, userID, id).Scan(&f)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, clientsync.ErrFilterNotFound
	}
	return []byte(f), err
}
