package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"foyer/internal/refusal"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// RoomStore implements rooms.Store.
type RoomStore struct{ db *DB }

// NewRoomStore returns the rooms store over db.
func NewRoomStore(db *DB) *RoomStore { return &RoomStore{db: db} }

var _ rooms.Store = (*RoomStore)(nil)

func containsURL(content json.RawMessage) bool {
	var c struct {
		URL any `json:"url"`
	}
	_ = json.Unmarshal(content, &c)
	s, ok := c.URL.(string)
	return ok && s != ""
}

func (s *RoomStore) Append(ctx context.Context, a rooms.Append) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error { return s.appendTx(ctx, tx, a, true) })
}

// AppendAll writes several Appends in one transaction: one commit for
// the events of an inbound transaction. A room's forward extremities and
// row, which each Append rewrites whole, are written by its last Append
// that writes them: the earlier writes would be overwritten in the same
// transaction.
func (s *RoomStore) AppendAll(ctx context.Context, as []rooms.Append) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for i, a := range as {
			superseded := slices.ContainsFunc(as[i+1:], func(b rooms.Append) bool { return b.RoomID == a.RoomID && writesRoomRow(b) })
			if err := s.appendTx(ctx, tx, a, !superseded); err != nil {
				return err
			}
		}
		return nil
	})
}

// writesRoomRow reports whether appendTx writes a's room's extremities
// and row: it names extremities, or stores an event that is no outlier.
func writesRoomRow(a rooms.Append) bool {
	return len(a.Extremities) > 0 || slices.ContainsFunc(a.Events, func(pe rooms.PersistEvent) bool { return !pe.Outlier })
}

// appendTx is Append within tx; without roomRow, the room's extremities
// and row are left to a later write.
func (s *RoomStore) appendTx(ctx context.Context, tx *sql.Tx, a rooms.Append, roomRow bool) error {
	if c := a.RoomCap; c != nil {
		if err := s.checkRoomCap(ctx, tx, a.RoomID, *c); err != nil {
			return err
		}
	}
	if r := a.NewRoom; r != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rooms (room_id, room_version, creator, created_ts, is_public, latest_event_id, depth)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, r.RoomID, r.Version, r.Creator, r.CreatedTS, r.IsPublic, r.LatestEventID, r.Depth); err != nil {
			return fmt.Errorf("inserting room: %w", err)
		}
	}
	for _, g := range a.StateGroups {
		if err := writeStateGroup(ctx, tx, g.ID, a.RoomID, g.Prev, g.Delta); err != nil {
			return err
		}
	}
	var last matrixevents.Event
	var lastShown rooms.PersistEvent
	var lastShownGroup int64
	for _, pe := range a.Events {
		ev := pe.Event
		var membership sql.NullString
		if ev.Type() == "m.room.member" {
			membership = sql.NullString{String: ev.Membership(), Valid: true}
		}
		var stateKey sql.NullString
		if sk := ev.StateKey(); sk != nil {
			stateKey = sql.NullString{String: *sk, Valid: true}
		}
		var expires sql.NullInt64
		if pe.ExpiresTS > 0 {
			expires = sql.NullInt64{Int64: pe.ExpiresTS, Valid: true}
		}
		group := pe.StateBefore
		if stateKey.Valid && !pe.Rejected && !pe.Outlier {
			group = pe.StreamPos
			delta := map[matrixevents.StateTuple]string{{Type: ev.Type(), StateKey: stateKey.String}: ev.EventID()}
			if err := writeStateGroup(ctx, tx, group, a.RoomID, pe.StateBefore, delta); err != nil {
				return err
			}
		}
		if pe.ReplacesOutlier {
			if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE event_id = $1 AND outlier = TRUE`, ev.EventID()); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (stream_pos, event_id, room_id, type, state_key, sender, membership,
			history_visibility, depth, origin_server_ts, json, contains_url, replaces_state, expires_ts,
			state_group, rejected, soft_failed, outlier)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
			pe.StreamPos, ev.EventID(), a.RoomID, ev.Type(), stateKey, ev.Sender(), membership,
			pe.HistoryVisibility, ev.Depth(), ev.OriginServerTS(), string(ev.JSON()), containsURL(ev.Content()),
			nullString(pe.ReplacesState), expires, nullInt(group), pe.Rejected, pe.SoftFailed, pe.Outlier); err != nil {
			return fmt.Errorf("inserting event: %w", err)
		}
		if pe.Outlier {
			continue
		}
		last = ev
		if pe.Rejected || pe.SoftFailed || pe.Outlier {
			continue
		}
		if err := indexRelation(ctx, tx, a.RoomID, pe); err != nil {
			return err
		}
		if err := s.indexSearch(ctx, tx, pe); err != nil {
			return err
		}
		if pe.Backfilled {
			continue // History: the room's present is unchanged.
		}
		lastShown, lastShownGroup = pe, group
		if rooms.BumpEventTypes[ev.Type()] {
			if _, err := tx.ExecContext(ctx, `INSERT INTO room_bump_stamps (room_id, stream_pos) VALUES ($1, $2)
				ON CONFLICT (room_id) DO UPDATE SET stream_pos = excluded.stream_pos
				WHERE room_bump_stamps.stream_pos < excluded.stream_pos`, a.RoomID, pe.StreamPos); err != nil {
				return fmt.Errorf("updating bump stamp: %w", err)
			}
		}
		if membership.Valid && (membership.String == "join" || membership.String == "invite" || membership.String == "knock") {
			if _, err := tx.ExecContext(ctx, `DELETE FROM forgotten_rooms WHERE user_id = $1 AND room_id = $2`, stateKey.String, a.RoomID); err != nil {
				return err
			}
		}
		if stateKey.Valid && a.CurrentState == nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO current_state (room_id, type, state_key, event_id, stream_pos, membership)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id,
					stream_pos = excluded.stream_pos, membership = excluded.membership`,
				a.RoomID, ev.Type(), stateKey.String, ev.EventID(), pe.StreamPos, membership); err != nil {
				return fmt.Errorf("updating current state: %w", err)
			}
		}
	}
	// The room's state after its newest shown event is the resolution of
	// several branches: kept with the event, so the state at any sync
	// token is the one the room had then.
	if !lastShown.Event.IsZero() && a.StateGroup != 0 && a.StateGroup != lastShownGroup {
		if _, err := tx.ExecContext(ctx, `UPDATE events SET resolved_group = $1 WHERE event_id = $2`,
			a.StateGroup, lastShown.Event.EventID()); err != nil {
			return err
		}
	}
	for _, g := range a.AfterGroups {
		if err := writeStateGroup(ctx, tx, g.ID, a.RoomID, g.Prev, g.Delta); err != nil {
			return err
		}
	}
	if a.CurrentState != nil {
		if err := replaceCurrentState(ctx, tx, a.RoomID, a.CurrentState); err != nil {
			return err
		}
	}
	extremities := a.Extremities
	if extremities == nil && !last.IsZero() {
		extremities = []rooms.Extremity{{EventID: last.EventID(), Depth: last.Depth()}}
	}
	if len(extremities) > 0 && roomRow {
		if _, err := tx.ExecContext(ctx, `DELETE FROM room_extremities WHERE room_id = $1`, a.RoomID); err != nil {
			return err
		}
		depth := int64(0)
		for _, x := range extremities {
			if _, err := tx.ExecContext(ctx, `INSERT INTO room_extremities (room_id, event_id, depth) VALUES ($1, $2, $3)`,
				a.RoomID, x.EventID, x.Depth); err != nil {
				return fmt.Errorf("recording forward extremity: %w", err)
			}
			depth = max(depth, x.Depth)
		}
		latest := extremities[0].EventID
		if !lastShown.Event.IsZero() {
			latest = lastShown.Event.EventID()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE rooms SET latest_event_id = $1, depth = $2, state_group = $3 WHERE room_id = $4`,
			latest, depth, nullInt(a.StateGroup), a.RoomID); err != nil {
			return err
		}
	}
	for target, by := range a.Redacts {
		if _, err := tx.ExecContext(ctx, `UPDATE events SET redacted_by = $1 WHERE event_id = $2 AND redacted_by IS NULL`, by, target); err != nil {
			return err
		}
		if err := s.unindexSearch(ctx, tx, target); err != nil {
			return err
		}
	}
	if t := a.Txn; t != nil && !last.IsZero() {
		if _, err := tx.ExecContext(ctx, `INSERT INTO txn_ids (user_id, device_id, scope, txn_id, event_id) VALUES ($1, $2, $3, $4, $5)`,
			t.UserID, t.DeviceID, t.Scope, t.TxnID, last.EventID()); err != nil {
			return err
		}
	}
	return nil
}

// checkRoomCap refuses with rooms.ErrRoomCapReached when the cap's user
// is joined to cap.Max rooms other than roomID. The count and the write
// are one transaction, and the transactions of one user's joins are
// serialised, so they cannot all count the same rooms: SQLite's write
// transactions are serialised already (BEGIN IMMEDIATE); on PostgreSQL
// the user's row is locked first, and the count, a statement after the
// lock, sees the joins committed before it.
func (s *RoomStore) checkRoomCap(ctx context.Context, tx *sql.Tx, roomID string, c rooms.RoomCap) error {
	if s.db.Dialect == Postgres {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT user_id FROM users WHERE user_id = $1 FOR UPDATE`, c.UserID).Scan(&id)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM current_state
		WHERE type = 'm.room.member' AND state_key = $1 AND membership = 'join' AND room_id <> $2`, c.UserID, roomID).Scan(&n); err != nil {
		return err
	}
	if n >= c.Max {
		return rooms.ErrRoomCapReached
	}
	return nil
}

func (s *RoomStore) GetRoom(ctx context.Context, roomID string) (rooms.RoomInfo, error) {
	var r rooms.RoomInfo
	var group sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT room_id, room_version, creator, created_ts, is_public, latest_event_id, depth, state_group
		FROM rooms WHERE room_id = $1`, roomID).Scan(&r.RoomID, &r.Version, &r.Creator, &r.CreatedTS, &r.IsPublic, &r.LatestEventID, &r.Depth, &group)
	if errors.Is(err, sql.ErrNoRows) {
		return r, rooms.ErrNotFound
	}
	if err != nil {
		return r, err
	}
	r.StateGroup = group.Int64
	rows, err := s.db.Read.QueryContext(ctx, `SELECT event_id, depth FROM room_extremities WHERE room_id = $1 ORDER BY depth DESC, event_id`, roomID)
	if err != nil {
		return r, err
	}
	defer rows.Close()
	for rows.Next() {
		var x rooms.Extremity
		if err := rows.Scan(&x.EventID, &x.Depth); err != nil {
			return r, err
		}
		r.Extremities = append(r.Extremities, x)
	}
	return r, rows.Err()
}

// replaceCurrentState makes state the room's current state.
func replaceCurrentState(ctx context.Context, tx *sql.Tx, roomID string, state []rooms.StoredEvent) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM current_state WHERE room_id = $1`, roomID); err != nil {
		return err
	}
	for _, se := range state {
		ev := se.Event
		var membership sql.NullString
		if ev.Type() == "m.room.member" {
			membership = sql.NullString{String: ev.Membership(), Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO current_state (room_id, type, state_key, event_id, stream_pos, membership)
			VALUES ($1, $2, $3, $4, $5, $6)`, roomID, ev.Type(), *ev.StateKey(), ev.EventID(), se.StreamPos, membership); err != nil {
			return fmt.Errorf("replacing current state: %w", err)
		}
	}
	return nil
}

// shownToClients keeps out the events clients never see: rejected,
// soft-failed and outlier ones. Every client read of events (as e)
// carries it.
const shownToClients = ` AND e.rejected = FALSE AND e.soft_failed = FALSE AND e.outlier = FALSE`

// eventColumns are read by scanEvent; the query must join rooms as r.
const eventColumns = `e.stream_pos, e.event_id, e.json, COALESCE(e.redacted_by, ''), e.history_visibility, COALESCE(e.replaces_state, ''), r.room_version,
	COALESCE(e.state_group, 0), e.rejected, e.soft_failed, e.outlier`

func scanEvent(row interface{ Scan(...any) error }) (rooms.StoredEvent, error) {
	var se rooms.StoredEvent
	var eventID, raw, version string
	if err := row.Scan(&se.StreamPos, &eventID, &raw, &se.RedactedBy, &se.HistoryVisibility, &se.ReplacesState, &version, &se.StateGroup, &se.Rejected, &se.SoftFailed, &se.Outlier); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return se, rooms.ErrNotFound
		}
		return se, err
	}
	// The length of the stored JSON is part of the key: the only in-place
	// change, pruning a self-destructed message, always shortens it.
	cacheKey := version + "|" + eventID + "|" + se.RedactedBy + "|" + strconv.Itoa(len(raw))
	if ev, ok := parsedEvents.get(cacheKey); ok {
		se.Event = ev
		return se, nil
	}
	data := []byte(raw)
	if se.RedactedBy != "" {
		red, err := matrixevents.Redact(version, data)
		if err != nil {
			return se, err
		}
		data = red
	}
	ev, err := matrixevents.ParseTrusted(version, data)
	if err != nil {
		return se, err
	}
	parsedEvents.put(cacheKey, ev)
	se.Event = ev
	return se, nil
}

func collectEvents(rows *sql.Rows, err error) ([]rooms.StoredEvent, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rooms.StoredEvent
	for rows.Next() {
		se, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, se)
	}
	return out, rows.Err()
}

func (s *RoomStore) CurrentState(ctx context.Context, roomID string) ([]rooms.StoredEvent, error) {
	return collectEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+`
		FROM current_state c JOIN events e ON e.event_id = c.event_id JOIN rooms r ON r.room_id = e.room_id
		WHERE c.room_id = $1 ORDER BY e.stream_pos`, roomID))
}

func (s *RoomStore) StateAt(ctx context.Context, roomID string, pos int64) ([]rooms.StoredEvent, error) {
	group, err := s.StateGroupAt(ctx, roomID, pos)
	if err != nil || group == 0 {
		return nil, err
	}
	return s.StateGroup(ctx, group)
}

func (s *RoomStore) StateGroupAt(ctx context.Context, roomID string, pos int64) (int64, error) {
	var group sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(e.resolved_group, e.state_group) FROM events e
		WHERE e.room_id = $1 AND e.stream_pos <= $2 AND e.stream_pos > 0`+shownToClients+`
		ORDER BY e.stream_pos DESC LIMIT 1`, roomID, pos).Scan(&group)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return group.Int64, err
}

func (s *RoomStore) GetEvent(ctx context.Context, eventID string) (rooms.StoredEvent, error) {
	return scanEvent(s.db.Read.QueryRowContext(ctx, `SELECT `+eventColumns+`
		FROM events e JOIN rooms r ON r.room_id = e.room_id WHERE e.event_id = $1`+shownToClients, eventID))
}

func (s *RoomStore) GetEvents(ctx context.Context, eventIDs []string) (map[string]rooms.StoredEvent, error) {
	return s.getEvents(ctx, eventIDs, false)
}

func (s *RoomStore) EventsAnyStatus(ctx context.Context, eventIDs []string) (map[string]rooms.StoredEvent, error) {
	return s.getEvents(ctx, eventIDs, true)
}

func (s *RoomStore) getEvents(ctx context.Context, eventIDs []string, anyStatus bool) (map[string]rooms.StoredEvent, error) {
	out := make(map[string]rooms.StoredEvent, len(eventIDs))
	for start := 0; start < len(eventIDs); start += maxInArgs {
		var p placeholders
		q := `SELECT ` + eventColumns + ` FROM events e JOIN rooms r ON r.room_id = e.room_id
			WHERE e.event_id IN (` + p.list(s.db.Dialect, eventIDs[start:min(start+maxInArgs, len(eventIDs))]) + `)`
		if !anyStatus {
			q += shownToClients
		}
		rows, err := s.db.Read.QueryContext(ctx, q, p.args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			se, err := scanEvent(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[se.Event.EventID()] = se
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *RoomStore) LookupTxn(ctx context.Context, t rooms.Txn) (string, error) {
	var id string
	err := s.db.Read.QueryRowContext(ctx, `SELECT event_id FROM txn_ids WHERE user_id = $1 AND device_id = $2 AND scope = $3 AND txn_id = $4`,
		t.UserID, t.DeviceID, t.Scope, t.TxnID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", rooms.ErrNotFound
	}
	return id, err
}

func (s *RoomStore) MembershipHistory(ctx context.Context, roomID, userID string) ([]rooms.MembershipChange, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT e.stream_pos, e.membership FROM events e
		WHERE e.room_id = $1 AND e.type = 'm.room.member' AND e.state_key = $2 AND e.stream_pos > 0`+shownToClients+`
		ORDER BY e.stream_pos`, roomID, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rooms.MembershipChange
	for rows.Next() {
		var c rooms.MembershipChange
		if err := rows.Scan(&c.StreamPos, &c.Membership); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *RoomStore) RoomsWithMembership(ctx context.Context, userID string, memberships ...string) ([]string, error) {
	if len(memberships) == 0 {
		return nil, nil
	}
	p := placeholders{args: []any{userID}}
	return collectStrings(s.db.Read.QueryContext(ctx, `SELECT room_id FROM current_state
		WHERE type = 'm.room.member' AND state_key = $1 AND membership IN (`+p.list(s.db.Dialect, memberships)+`) ORDER BY room_id`, p.args...))
}

func (s *RoomStore) Events(ctx context.Context, roomID string, from, to int64, backwards bool, limit int, f rooms.EventFilter) ([]rooms.StoredEvent, error) {
	q := &strings.Builder{}
	p := placeholders{args: []any{roomID}}
	q.WriteString(`SELECT ` + eventColumns + ` FROM events e JOIN rooms r ON r.room_id = e.room_id WHERE e.room_id = $1` + shownToClients)
	if backwards {
		fmt.Fprintf(q, " AND e.stream_pos < %s AND e.stream_pos >= %s", p.arg(from), p.arg(max(to, 1)))
	} else {
		fmt.Fprintf(q, " AND e.stream_pos > %s AND e.stream_pos <= %s", p.arg(max(from, 0)), p.arg(to))
	}
	s.writeEventFilter(q, &p, f)
	if backwards {
		q.WriteString(" ORDER BY e.stream_pos DESC")
	} else {
		q.WriteString(" ORDER BY e.stream_pos ASC")
	}
	fmt.Fprintf(q, " LIMIT %s", p.arg(limit))
	return collectEvents(s.db.Read.QueryContext(ctx, q.String(), p.args...))
}

// writeEventFilter adds a room event filter's conditions to a query over
// events e.
func (s *RoomStore) writeEventFilter(q *strings.Builder, p *placeholders, f rooms.EventFilter) {
	q.WriteString(s.db.Dialect.eventFilterSQL(p, f))
	if f.ContainsURL != nil {
		fmt.Fprintf(q, " AND e.contains_url = %s", p.arg(*f.ContainsURL))
	}
	if f.StateOnly {
		q.WriteString(" AND e.state_key IS NOT NULL")
	}
}

func (s *RoomStore) TopoEvents(ctx context.Context, roomID string, from, to rooms.TopoPos, backwards bool, limit int, f rooms.EventFilter) ([]rooms.StoredEvent, error) {
	q := &strings.Builder{}
	p := placeholders{args: []any{roomID}}
	q.WriteString(`SELECT ` + eventColumns + ` FROM events e JOIN rooms r ON r.room_id = e.room_id WHERE e.room_id = $1` + shownToClients)
	lo, hi := from, to
	if backwards {
		lo, hi = to, from
	}
	// Row values compare lexicographically on both databases.
	fmt.Fprintf(q, " AND (e.depth, e.stream_pos) > (%s, %s)", p.arg(lo.Depth), p.arg(lo.Stream))
	fmt.Fprintf(q, " AND (e.depth, e.stream_pos) <= (%s, %s)", p.arg(hi.Depth), p.arg(hi.Stream))
	s.writeEventFilter(q, &p, f)
	if backwards {
		q.WriteString(" ORDER BY e.depth DESC, e.stream_pos DESC")
	} else {
		q.WriteString(" ORDER BY e.depth ASC, e.stream_pos ASC")
	}
	fmt.Fprintf(q, " LIMIT %s", p.arg(limit))
	return collectEvents(s.db.Read.QueryContext(ctx, q.String(), p.args...))
}

func (s *RoomStore) TopoPosAt(ctx context.Context, roomID string, pos int64) (rooms.TopoPos, error) {
	var t rooms.TopoPos
	err := s.db.Read.QueryRowContext(ctx, `SELECT e.depth, e.stream_pos FROM events e
		WHERE e.room_id = $1 AND e.stream_pos <= $2 AND e.stream_pos > 0`+shownToClients+`
		ORDER BY e.stream_pos DESC LIMIT 1`, roomID, pos).Scan(&t.Depth, &t.Stream)
	if errors.Is(err, sql.ErrNoRows) {
		return rooms.TopoPos{}, nil
	}
	return t, err
}

func (s *RoomStore) SetPublic(ctx context.Context, roomID string, public bool) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE rooms SET is_public = $1 WHERE room_id = $2`, public, roomID)
	return err
}

func (s *RoomStore) PublicRooms(ctx context.Context) ([]string, error) {
	return collectStrings(s.db.Read.QueryContext(ctx, `SELECT room_id FROM rooms WHERE is_public ORDER BY created_ts, room_id`))
}

func (s *RoomStore) CreateAlias(ctx context.Context, alias, roomID, creator string, ts int64) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES ($1, $2, $3, $4)`,
		alias, roomID, creator, ts)
	if IsUniqueViolation(err) {
		return &refusal.Error{Kind: refusal.RoomInUse, Msg: "the room alias " + alias + " is already in use"}
	}
	return err
}

func (s *RoomStore) GetAlias(ctx context.Context, alias string) (string, string, error) {
	var roomID, creator string
	err := s.db.Read.QueryRowContext(ctx, `SELECT room_id, creator FROM room_aliases WHERE alias = $1`, alias).Scan(&roomID, &creator)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", rooms.ErrNotFound
	}
	return roomID, creator, err
}

func (s *RoomStore) DeleteAlias(ctx context.Context, alias string) error {
	res, err := s.db.Write.ExecContext(ctx, `DELETE FROM room_aliases WHERE alias = $1`, alias)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return rooms.ErrNotFound
	}
	return nil
}

func (s *RoomStore) AliasesForRoom(ctx context.Context, roomID string) ([]string, error) {
	return collectStrings(s.db.Read.QueryContext(ctx, `SELECT alias FROM room_aliases WHERE room_id = $1 ORDER BY alias`, roomID))
}

func (s *RoomStore) Forget(ctx context.Context, userID, roomID string) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO forgotten_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, userID, roomID)
	return err
}

func (s *RoomStore) Forgot(ctx context.Context, userID, roomID string) (bool, error) {
	var one int
	err := s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM forgotten_rooms WHERE user_id = $1 AND room_id = $2`, userID, roomID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (s *RoomStore) UserMemberships(ctx context.Context, userID string) ([]rooms.RoomMembership, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT c.room_id, c.membership, c.stream_pos, f.room_id IS NOT NULL FROM current_state c
		LEFT JOIN forgotten_rooms f ON f.user_id = c.state_key AND f.room_id = c.room_id
		WHERE c.type = 'm.room.member' AND c.state_key = $1
		ORDER BY c.room_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rooms.RoomMembership
	for rows.Next() {
		var m rooms.RoomMembership
		if err := rows.Scan(&m.RoomID, &m.Membership, &m.StreamPos, &m.Forgotten); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *RoomStore) TxnIDs(ctx context.Context, userID, deviceID string, eventIDs []string) (map[string]string, error) {
	out := map[string]string{}
	if len(eventIDs) == 0 {
		return out, nil
	}
	// Look up by event ID (indexed) and check the sender's device here: a
	// query on (user_id, device_id) would walk every transaction of a
	// busy device.
	var p placeholders
	rows, err := s.db.Read.QueryContext(ctx, `SELECT event_id, txn_id, user_id, device_id FROM txn_ids
		WHERE event_id IN (`+p.list(s.db.Dialect, eventIDs)+`)`, p.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ev, txn, user, device string
		if err := rows.Scan(&ev, &txn, &user, &device); err != nil {
			return nil, err
		}
		if user == userID && device == deviceID {
			out[ev] = txn
		}
	}
	return out, rows.Err()
}
