package storage

import (
	"context"
	"database/sql"

	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

var _ rooms.SelfDestructStore = (*RoomStore)(nil)

// ExpireDue replaces the stored JSON of each event whose expiry has
// passed with its redacted form, in one transaction. Parsed copies in
// parsedEvents are keyed by the JSON's length and so are not served again.
func (s *RoomStore) ExpireDue(ctx context.Context, now int64) (int, error) {
	type due struct{ eventID, version, json string }
	var pruned []due
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		pruned = pruned[:0]
		rows, err := tx.QueryContext(ctx, `SELECT e.event_id, r.room_version, e.json
			FROM events e JOIN rooms r ON r.room_id = e.room_id
			WHERE e.expires_ts IS NOT NULL AND e.expires_ts <= $1`, now)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.eventID, &d.version, &d.json); err != nil {
				rows.Close()
				return err
			}
			pruned = append(pruned, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range pruned {
			red, err := matrixevents.Redact(d.version, []byte(d.json))
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE events SET json = $1, expires_ts = NULL WHERE event_id = $2`, string(red), d.eventID); err != nil {
				return err
			}
			if err := s.unindexSearch(ctx, tx, d.eventID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(pruned), nil
}

// NextExpiry is the earliest pending expiry.
func (s *RoomStore) NextExpiry(ctx context.Context) (int64, bool, error) {
	var next sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT MIN(expires_ts) FROM events WHERE expires_ts IS NOT NULL`).Scan(&next)
	return next.Int64, next.Valid, err
}
