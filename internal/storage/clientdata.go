package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"foyer/internal/clientdata"
)

// ClientDataStore implements clientdata.Store.
type ClientDataStore struct{ db *DB }

// NewClientDataStore returns the receipts and account data store over db.
func NewClientDataStore(db *DB) *ClientDataStore { return &ClientDataStore{db: db} }

var _ clientdata.Store = (*ClientDataStore)(nil)

// The WHERE on each upsert keeps a row written at a later position when an
// earlier-reserved write commits after it.

// PutReceipt writes a receipt. A receipt in a thread the account has no
// receipt of this type for yet counts against its cap on threaded
// receipts per room (account_limits.*thread_receipts_per_room): any event
// ID is accepted as a thread ID, so without it one account could add rows,
// and entries to every member's sync, without end.
func (s *ClientDataStore) PutReceipt(ctx context.Context, r clientdata.Receipt) error {
	const upsert = `INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, ts, stream_pos, event_pos)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (room_id, receipt_type, user_id, thread_id) DO UPDATE SET
			event_id = excluded.event_id, ts = excluded.ts, stream_pos = excluded.stream_pos, event_pos = excluded.event_pos
		WHERE receipts.stream_pos < excluded.stream_pos AND COALESCE(receipts.event_pos, 0) <= excluded.event_pos`
	args := []any{r.RoomID, r.Type, r.UserID, r.ThreadID, r.EventID, r.TS, r.StreamPos, r.EventPos}
	if r.ThreadID == "" || r.ThreadID == "main" {
		_, err := s.db.Write.ExecContext(ctx, upsert, args...)
		return err
	}
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkThreadReceipts(ctx, tx, r); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, upsert, args...)
		return err
	})
}

func (s *ClientDataStore) checkThreadReceipts(ctx context.Context, tx *sql.Tx, r clientdata.Receipt) error {
	caps, guest, err := s.db.lockAccount(ctx, tx, r.UserID)
	if err != nil || caps.ThreadReceiptsPerRoom <= 0 {
		return err
	}
	var exists, threads int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM receipts
		WHERE room_id = $1 AND receipt_type = $2 AND user_id = $3 AND thread_id = $4`,
		r.RoomID, r.Type, r.UserID, r.ThreadID).Scan(&exists); err != nil || exists > 0 {
		return err
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM receipts
		WHERE room_id = $1 AND receipt_type = $2 AND user_id = $3 AND thread_id NOT IN ('', 'main')`,
		r.RoomID, r.Type, r.UserID).Scan(&threads); err != nil {
		return err
	}
	if threads >= caps.ThreadReceiptsPerRoom {
		return s.db.overCap(guest, "this account already has %s receipts in %d threads of this room, the most it may have", r.Type, caps.ThreadReceiptsPerRoom)
	}
	return nil
}

func (s *ClientDataStore) ReceiptsBetween(ctx context.Context, roomIDs []string, from, to int64) ([]clientdata.Receipt, error) {
	var out []clientdata.Receipt
	for start := 0; start < len(roomIDs); start += maxInArgs {
		chunk := roomIDs[start:min(start+maxInArgs, len(roomIDs))]
		p := placeholders{args: []any{from, to}}
		rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, receipt_type, user_id, thread_id, event_id, ts, stream_pos
			FROM receipts WHERE stream_pos > $1 AND stream_pos <= $2 AND room_id IN (`+p.list(s.db.Dialect, chunk)+`)
			ORDER BY stream_pos`, p.args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var r clientdata.Receipt
			if err := rows.Scan(&r.RoomID, &r.Type, &r.UserID, &r.ThreadID, &r.EventID, &r.TS, &r.StreamPos); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *ClientDataStore) ReadUpTo(ctx context.Context, userID, roomID string) (int64, error) {
	var pos sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT MAX(e.stream_pos) FROM receipts r JOIN events e ON e.event_id = r.event_id
		WHERE r.user_id = $1 AND r.room_id = $2 AND r.receipt_type IN ('m.read', 'm.read.private') AND r.thread_id IN ('', 'main')`,
		userID, roomID).Scan(&pos)
	return pos.Int64, err
}

// PutAccountData writes an entry unless the account's caps
// (account_limits.*account_data*) would be exceeded; a write replacing an
// entry counts only the difference in size.
func (s *ClientDataStore) PutAccountData(ctx context.Context, d clientdata.AccountData) error {
	size := int64(len(d.Type) + len(d.Content))
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		caps, guest, err := s.db.lockAccount(ctx, tx, d.UserID)
		if err != nil {
			return err
		}
		if caps.AccountDataEntries > 0 || caps.AccountDataBytes > 0 {
			var entries, total int64
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM account_data WHERE user_id = $1`,
				d.UserID).Scan(&entries, &total); err != nil {
				return err
			}
			var old int64
			err := tx.QueryRowContext(ctx, `SELECT size_bytes FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3`,
				d.UserID, d.RoomID, d.Type).Scan(&old)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				entries++
			case err != nil:
				return err
			}
			total += size - old
			if caps.AccountDataEntries > 0 && entries > int64(caps.AccountDataEntries) {
				return s.db.overCap(guest, "this account already has %d account data entries, the most it may have", caps.AccountDataEntries)
			}
			if caps.AccountDataBytes > 0 && total > caps.AccountDataBytes {
				return s.db.overCap(guest, "this account's account data would take %d bytes, more than the %d it may take", total, caps.AccountDataBytes)
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO account_data (user_id, room_id, type, content, stream_pos, size_bytes)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (user_id, room_id, type) DO UPDATE SET
				content = excluded.content, stream_pos = excluded.stream_pos, size_bytes = excluded.size_bytes
			WHERE account_data.stream_pos < excluded.stream_pos`,
			d.UserID, d.RoomID, d.Type, string(d.Content), d.StreamPos, size)
		return err
	})
}

func (s *ClientDataStore) GetAccountData(ctx context.Context, userID, roomID, typ string) (clientdata.AccountData, error) {
	d := clientdata.AccountData{UserID: userID, RoomID: roomID, Type: typ}
	var content string
	err := s.db.Read.QueryRowContext(ctx, `SELECT content, stream_pos FROM account_data
		WHERE user_id = $1 AND room_id = $2 AND type = $3`, userID, roomID, typ).Scan(&content, &d.StreamPos)
	if errors.Is(err, sql.ErrNoRows) {
		return d, clientdata.ErrNotFound
	}
	d.Content = json.RawMessage(content)
	return d, err
}

func (s *ClientDataStore) AccountDataBetween(ctx context.Context, userID string, from, to int64) ([]clientdata.AccountData, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, type, content, stream_pos FROM account_data
		WHERE user_id = $1 AND stream_pos > $2 AND stream_pos <= $3 ORDER BY stream_pos`, userID, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []clientdata.AccountData
	for rows.Next() {
		d := clientdata.AccountData{UserID: userID}
		var content string
		if err := rows.Scan(&d.RoomID, &d.Type, &content, &d.StreamPos); err != nil {
			return nil, err
		}
		d.Content = json.RawMessage(content)
		out = append(out, d)
	}
	return out, rows.Err()
}
