package storage

import (
	"context"
	"database/sql"
	"errors"

	"foyer/internal/guest"
)

// GuestStore implements guest.Store: guest links, and the bookkeeping of
// guest expiry and of the admin API.
type GuestStore struct{ db *DB }

// NewGuestStore returns the guest store over db.
func NewGuestStore(db *DB) *GuestStore { return &GuestStore{db: db} }

var _ guest.Store = (*GuestStore)(nil)

func (s *GuestStore) CreateLink(ctx context.Context, l guest.Link) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO guest_links (token, room_id, creator, max_uses, uses, expires_ts, created_ts)
		VALUES ($1, $2, $3, $4, 0, $5, $6)`, l.Token, l.RoomID, l.Creator, l.MaxUses, l.ExpiresTS, l.CreatedTS)
	return err
}

const linkColumns = `token, room_id, creator, max_uses, uses, expires_ts, created_ts, revoked_ts`

func scanLink(row interface{ Scan(...any) error }) (guest.Link, error) {
	var l guest.Link
	var maxUses, expires, revoked sql.NullInt64
	err := row.Scan(&l.Token, &l.RoomID, &l.Creator, &maxUses, &l.Uses, &expires, &l.CreatedTS, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return l, guest.ErrLinkNotFound
	}
	if maxUses.Valid {
		l.MaxUses = &maxUses.Int64
	}
	if expires.Valid {
		l.ExpiresTS = &expires.Int64
	}
	if revoked.Valid {
		l.RevokedTS = &revoked.Int64
	}
	return l, err
}

func (s *GuestStore) GetLink(ctx context.Context, token string) (guest.Link, error) {
	return scanLink(s.db.Read.QueryRowContext(ctx, `SELECT `+linkColumns+` FROM guest_links WHERE token = $1`, token))
}

func (s *GuestStore) ListLinks(ctx context.Context, roomID string) ([]guest.Link, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+linkColumns+` FROM guest_links
		WHERE room_id = $1 AND revoked_ts IS NULL ORDER BY created_ts, token`, roomID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []guest.Link
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func (s *GuestStore) RevokeLink(ctx context.Context, roomID, token string, now int64) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE guest_links SET revoked_ts = $1
		WHERE token = $2 AND room_id = $3 AND revoked_ts IS NULL`, now, token, roomID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return guest.ErrLinkNotFound
	}
	return nil
}

func (s *GuestStore) UseLink(ctx context.Context, token string, now int64) (bool, error) {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE guest_links SET uses = uses + 1
		WHERE token = $1 AND revoked_ts IS NULL AND (expires_ts IS NULL OR expires_ts > $2)
		AND (max_uses IS NULL OR uses < max_uses)`, token, now)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *GuestStore) ReturnLinkUse(ctx context.Context, token string) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE guest_links SET uses = uses - 1 WHERE token = $1 AND uses > 0`, token)
	return err
}

func (s *GuestStore) CountLiveGuests(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE kind = 'guest' AND NOT deactivated`).Scan(&n)
	return n, err
}

func (s *GuestStore) ListGuests(ctx context.Context, offset, limit int) ([]guest.Info, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT u.user_id, u.created_ts, u.last_seen_ts,
		(SELECT COUNT(*) FROM devices d WHERE d.user_id = u.user_id),
		(SELECT COUNT(*) FROM current_state c WHERE c.type = 'm.room.member' AND c.state_key = u.user_id AND c.membership = 'join')
		FROM users u WHERE u.kind = 'guest' AND NOT u.deactivated
		ORDER BY u.created_ts, u.user_id LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []guest.Info
	for rows.Next() {
		var g guest.Info
		if err := rows.Scan(&g.UserID, &g.CreatedTS, &g.LastSeenTS, &g.Devices, &g.Rooms); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (s *GuestStore) ExpirableGuests(ctx context.Context, lastSeenBefore int64, limit int) ([]string, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id FROM users
		WHERE kind = 'guest' AND NOT deactivated AND last_seen_ts < $1
		ORDER BY last_seen_ts, user_id LIMIT $2`, lastSeenBefore, limit)
	return collectStrings(rows, err)
}

func (s *GuestStore) ClaimGuest(ctx context.Context, userID string, lastSeenBefore, now int64) (bool, error) {
	claimed := false
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		q := `UPDATE users SET deactivated = TRUE WHERE user_id = $1 AND kind = 'guest' AND NOT deactivated`
		args := []any{userID}
		if lastSeenBefore > 0 {
			q += ` AND last_seen_ts < $2`
			args = append(args, lastSeenBefore)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		claimed = true
		_, err = tx.ExecContext(ctx, `INSERT INTO guest_pending_leaves (user_id, queued_ts) VALUES ($1, $2)
			ON CONFLICT (user_id) DO NOTHING`, userID, now)
		return err
	})
	return claimed, err
}

func (s *GuestStore) PendingLeaves(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id FROM guest_pending_leaves ORDER BY queued_ts, user_id LIMIT $1`, limit)
	return collectStrings(rows, err)
}

func (s *GuestStore) DonePendingLeave(ctx context.Context, userID string) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM guest_pending_leaves WHERE user_id = $1`, userID)
	return err
}

func (s *GuestStore) DeleteFreshGuest(ctx context.Context, userID string) error {
	defer s.db.keyCounts.forgetUser(userID)
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var kind string
		err := tx.QueryRowContext(ctx, `SELECT kind FROM users WHERE user_id = $1`, userID).Scan(&kind)
		if err != nil {
			return err
		}
		if kind != "guest" {
			return errors.New("not a guest account")
		}
		if err := deleteDevicesExcept(ctx, tx, userID, ""); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM profiles WHERE user_id = $1`,
			`DELETE FROM users WHERE user_id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return err
			}
		}
		return nil
	})
}
