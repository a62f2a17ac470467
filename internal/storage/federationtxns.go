package storage

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// federationTxnKeep is how long a transaction's answer is kept.
const federationTxnKeep = 24 * time.Hour

// FederationTxnStore keeps the answers given to other servers'
// transactions.
type FederationTxnStore struct{ db *DB }

// NewFederationTxnStore returns the transaction answer store over db.
func NewFederationTxnStore(db *DB) *FederationTxnStore { return &FederationTxnStore{db: db} }

// Answer returns the answer given to origin's transaction txnID.
func (s *FederationTxnStore) Answer(ctx context.Context, origin, txnID string) ([]byte, bool, error) {
	var answer string
	err := s.db.Read.QueryRowContext(ctx, `SELECT answer FROM federation_transactions WHERE origin = $1 AND txn_id = $2`,
		origin, txnID).Scan(&answer)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return []byte(answer), true, nil
}

// SaveAnswer records the answer to origin's transaction txnID (the first
// one stays if it was recorded already) and deletes answers older than a
// day.
func (s *FederationTxnStore) SaveAnswer(ctx context.Context, origin, txnID string, answer []byte, now time.Time) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO federation_transactions (origin, txn_id, answer, received_ts)
			VALUES ($1, $2, $3, $4) ON CONFLICT (origin, txn_id) DO NOTHING`,
			origin, txnID, string(answer), now.UnixMilli()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM federation_transactions WHERE received_ts < $1`,
			now.Add(-federationTxnKeep).UnixMilli())
		return err
	})
}
