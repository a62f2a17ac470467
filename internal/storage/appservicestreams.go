package storage

import (
	"context"
	"database/sql"
	"errors"

	"foyer/internal/appservicesender"
)

// AppServiceStreams keeps where each application service is in the
// stream (appservicesender.Store).
type AppServiceStreams struct{ db *DB }

// NewAppServiceStreams returns the store over db.
func NewAppServiceStreams(db *DB) *AppServiceStreams { return &AppServiceStreams{db: db} }

func (s *AppServiceStreams) State(ctx context.Context, id string, startPos int64) (appservicesender.State, error) {
	var st appservicesender.State
	var txn, upto sql.NullInt64
	var body sql.NullString
	err := s.db.Write.QueryRowContext(ctx, `SELECT sent_pos, next_txn, pending_txn, pending_upto, pending_body
		FROM appservice_streams WHERE appservice_id = $1`, id).Scan(&st.SentPos, &st.NextTxn, &txn, &upto, &body)
	if errors.Is(err, sql.ErrNoRows) {
		st = appservicesender.State{SentPos: startPos, NextTxn: 1}
		_, err = s.db.Write.ExecContext(ctx, `INSERT INTO appservice_streams (appservice_id, sent_pos, next_txn)
			VALUES ($1, $2, $3) ON CONFLICT (appservice_id) DO NOTHING`, id, startPos, 1)
		return st, err
	}
	if err != nil {
		return st, err
	}
	if txn.Valid {
		st.Pending = &appservicesender.Pending{TxnID: txn.Int64, Upto: upto.Int64, Body: []byte(body.String)}
	}
	return st, nil
}

func (s *AppServiceStreams) SavePending(ctx context.Context, id string, p appservicesender.Pending) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE appservice_streams
		SET pending_txn = $1, pending_upto = $2, pending_body = $3 WHERE appservice_id = $4`,
		p.TxnID, p.Upto, string(p.Body), id)
	return err
}

func (s *AppServiceStreams) Delivered(ctx context.Context, id string, p appservicesender.Pending, next *appservicesender.Pending) error {
	var txn, upto any
	var body any
	if next != nil {
		txn, upto, body = next.TxnID, next.Upto, string(next.Body)
	}
	_, err := s.db.Write.ExecContext(ctx, `UPDATE appservice_streams
		SET sent_pos = $1, next_txn = $2, pending_txn = $3, pending_upto = $4, pending_body = $5
		WHERE appservice_id = $6 AND pending_txn = $7`, p.Upto, p.TxnID+1, txn, upto, body, id, p.TxnID)
	return err
}

func (s *AppServiceStreams) Advance(ctx context.Context, id string, pos int64) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE appservice_streams SET sent_pos = $1
		WHERE appservice_id = $2 AND pending_txn IS NULL AND sent_pos < $3`, pos, id, pos)
	return err
}
