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

func (s *FilterStore) CreateFilter(ctx context.Context, userID string, filter []byte) (string, error) {
	var id int64
	err := s.db.Write.QueryRowContext(ctx, `INSERT INTO filters (user_id, filter) VALUES ($1, $2) RETURNING filter_id`,
		userID, string(filter)).Scan(&id)
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
