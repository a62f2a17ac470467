package storage

import (
	"context"
	"database/sql"
	"errors"

	"foyer/internal/accounts"
	"foyer/internal/guest"
)

// Rename upgrades: the intent is recorded by CreateAccount (claimGuestForRename),
// in the transaction that creates the new account; GuestStore follows it.

// claimGuestForRename claims a live guest for a rename upgrade to newUserID
// and records the intent. The claim is one conditional UPDATE of the
// guest's row (upgraded_ts, which UpgradeGuest requires to be NULL), so of
// a rename and an in-place upgrade of the same guest at once only one
// matches: ErrNotGuest for the other.
func claimGuestForRename(ctx context.Context, tx *sql.Tx, guestID, newUserID, newDeviceID string, now int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE users SET upgraded_ts = $1
		WHERE user_id = $2 AND kind = $3 AND NOT deactivated AND upgraded_ts IS NULL`,
		now, guestID, string(accounts.KindGuest))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return accounts.ErrNotGuest
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO guest_renames (guest_user_id, new_user_id, new_device_id, state, created_ts, updated_ts)
		VALUES ($1, $2, $3, $4, $5, $6)`, guestID, newUserID, nullString(newDeviceID), string(guest.RenameMoving), now, now)
	return err
}

const renameColumns = `guest_user_id, new_user_id, COALESCE(new_device_id, ''), state`

func scanRename(row interface{ Scan(...any) error }) (guest.Rename, error) {
	var r guest.Rename
	var state string
	err := row.Scan(&r.GuestUserID, &r.NewUserID, &r.NewDeviceID, &state)
	r.State = guest.RenameState(state)
	return r, err
}

func (s *GuestStore) GetRename(ctx context.Context, guestID string) (guest.Rename, bool, error) {
	r, err := scanRename(s.db.Read.QueryRowContext(ctx, `SELECT `+renameColumns+` FROM guest_renames WHERE guest_user_id = $1`, guestID))
	if errors.Is(err, sql.ErrNoRows) {
		return guest.Rename{}, false, nil
	}
	return r, err == nil, err
}

func (s *GuestStore) UnfinishedRenames(ctx context.Context, limit int) ([]guest.Rename, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+renameColumns+` FROM guest_renames
		WHERE state = $1 ORDER BY created_ts, guest_user_id LIMIT $2`, string(guest.RenameMoving), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []guest.Rename
	for rows.Next() {
		r, err := scanRename(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *GuestStore) SetRenameState(ctx context.Context, guestID string, state guest.RenameState, now int64) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE guest_renames SET state = $1, updated_ts = $2 WHERE guest_user_id = $3`,
		string(state), now, guestID)
	return err
}

func (s *GuestStore) AddRenamedRoom(ctx context.Context, guestID, roomID string) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO guest_renamed_rooms (guest_user_id, room_id) VALUES ($1, $2)
		ON CONFLICT (guest_user_id, room_id) DO NOTHING`, guestID, roomID)
	return err
}

func (s *GuestStore) RenamedRooms(ctx context.Context, guestID string) ([]string, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id FROM guest_renamed_rooms WHERE guest_user_id = $1 ORDER BY room_id`, guestID)
	return collectStrings(rows, err)
}
