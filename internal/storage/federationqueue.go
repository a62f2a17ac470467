package storage

import (
	"context"
	"database/sql"
	"encoding/json"

	"foyer/internal/federationsender"
)

// FederationQueue keeps the PDUs and EDUs waiting to be sent to other
// servers (federationsender.Store).
type FederationQueue struct{ db *DB }

// NewFederationQueue returns the federation queue over db.
func NewFederationQueue(db *DB) *FederationQueue { return &FederationQueue{db: db} }

// Add queues item for each destination in one transaction, then trims each
// destination's queue of that kind to its newest keep items.
func (q *FederationQueue) Add(ctx context.Context, destinations []string, kind federationsender.Kind,
	item json.RawMessage, createdTS int64, keep int) error {
	return q.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, d := range destinations {
			if _, err := tx.ExecContext(ctx, `INSERT INTO federation_queue (destination, kind, json, created_ts)
				VALUES ($1, $2, $3, $4)`, d, string(kind), string(item), createdTS); err != nil {
				return err
			}
			if keep <= 0 {
				continue
			}
			// The (keep+1)th newest item and everything older goes.
			if _, err := tx.ExecContext(ctx, `DELETE FROM federation_queue
				WHERE destination = $1 AND kind = $2 AND position <= (
					SELECT position FROM federation_queue WHERE destination = $3 AND kind = $4
					ORDER BY position DESC LIMIT 1 OFFSET $5)`,
				d, string(kind), d, string(kind), keep); err != nil {
				return err
			}
		}
		return nil
	})
}

// Next returns the oldest queued items of destination, at most maxPDUs
// PDUs and maxEDUs EDUs, in queue order.
func (q *FederationQueue) Next(ctx context.Context, destination string, maxPDUs, maxEDUs int) ([]federationsender.Item, error) {
	var items []federationsender.Item
	for _, k := range []struct {
		kind  federationsender.Kind
		limit int
	}{{federationsender.PDU, maxPDUs}, {federationsender.EDU, maxEDUs}} {
		rows, err := q.db.Read.QueryContext(ctx, `SELECT position, json FROM federation_queue
			WHERE destination = $1 AND kind = $2 ORDER BY position LIMIT $3`, destination, string(k.kind), k.limit)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			it := federationsender.Item{Kind: k.kind}
			var raw string
			if err := rows.Scan(&it.Position, &raw); err != nil {
				rows.Close()
				return nil, err
			}
			it.JSON = json.RawMessage(raw)
			items = append(items, it)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	federationsender.SortByPosition(items)
	return items, nil
}

// Remove deletes the given items of destination.
func (q *FederationQueue) Remove(ctx context.Context, destination string, positions []int64) error {
	return q.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, p := range positions {
			if _, err := tx.ExecContext(ctx, `DELETE FROM federation_queue WHERE destination = $1 AND position = $2`,
				destination, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemoveDestination deletes everything queued for destination.
func (q *FederationQueue) RemoveDestination(ctx context.Context, destination string) error {
	_, err := q.db.Write.ExecContext(ctx, `DELETE FROM federation_queue WHERE destination = $1`, destination)
	return err
}

// Destinations lists the destinations with something queued.
func (q *FederationQueue) Destinations(ctx context.Context) ([]string, error) {
	rows, err := q.db.Read.QueryContext(ctx, `SELECT DISTINCT destination FROM federation_queue ORDER BY destination`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
