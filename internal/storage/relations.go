package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"foyer/internal/rooms"
)

// indexRelation records, in the transaction storing it, that pe relates
// to another event (content m.relates_to with rel_type and event_id).
func indexRelation(ctx context.Context, tx *sql.Tx, roomID string, pe rooms.PersistEvent) error {
	rel, ok := rooms.RelationOf(pe.Event.Content())
	if !ok {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO event_relations (child_event_id, room_id, parent_event_id, rel_type, child_type, stream_pos)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (child_event_id) DO NOTHING`,
		pe.Event.EventID(), roomID, rel.EventID, rel.RelType, pe.Event.Type(), pe.StreamPos)
	if err != nil {
		return fmt.Errorf("indexing relation: %w", err)
	}
	return nil
}

func (s *RoomStore) RelatedEvents(ctx context.Context, q rooms.RelationQuery) ([]rooms.StoredEvent, error) {
	var p placeholders
	var b strings.Builder
	filters := func() {
		if q.RelType != "" {
			b.WriteString(" AND rel.rel_type = " + p.arg(q.RelType))
		}
		if q.EventType != "" {
			b.WriteString(" AND rel.child_type = " + p.arg(q.EventType))
		}
	}
	// Children up to q.Depth hops away, through unredacted events that
	// match the filters (a redaction breaks the relationship).
	b.WriteString(`WITH RECURSIVE related (child, depth) AS (
		SELECT rel.child_event_id, 1 FROM event_relations rel
		JOIN events c ON c.event_id = rel.child_event_id AND c.redacted_by IS NULL
		WHERE rel.room_id = ` + p.arg(q.RoomID) + ` AND rel.parent_event_id = ` + p.arg(q.ParentID))
	filters()
	fmt.Fprintf(&b, `
		UNION
		SELECT rel.child_event_id, related.depth + 1 FROM event_relations rel
		JOIN related ON rel.parent_event_id = related.child
		JOIN events c ON c.event_id = rel.child_event_id AND c.redacted_by IS NULL
		WHERE related.depth < %d AND rel.room_id = %s`, max(q.Depth, 1), p.arg(q.RoomID))
	filters()
	b.WriteString(`)
	SELECT ` + eventColumns + ` FROM events e JOIN rooms r ON r.room_id = e.room_id
	WHERE e.event_id IN (SELECT child FROM related)`)
	if q.Backwards {
		fmt.Fprintf(&b, " AND e.stream_pos < %s AND e.stream_pos >= %s ORDER BY e.stream_pos DESC", p.arg(q.From), p.arg(q.To))
	} else {
		fmt.Fprintf(&b, " AND e.stream_pos > %s AND e.stream_pos <= %s ORDER BY e.stream_pos ASC", p.arg(q.From), p.arg(q.To))
	}
	b.WriteString(" LIMIT " + p.arg(q.Limit))
	return collectEvents(s.db.Read.QueryContext(ctx, b.String(), p.args...))
}

// RelationRows reads by the parents' index: the room's (room, type)
// index would read every edit the room ever had, so the room is compared
// as an expression the planner cannot seek by.
func (s *RoomStore) RelationRows(ctx context.Context, roomID string, parentIDs, relTypes []string) ([]rooms.RelationRow, error) {
	if len(parentIDs) == 0 {
		return nil, nil
	}
	var p placeholders
	q := `SELECT rel.parent_event_id, rel.rel_type, rel.child_event_id, e.type, e.state_key IS NOT NULL, e.sender,
		e.stream_pos, e.origin_server_ts, e.history_visibility
		FROM event_relations rel JOIN events e ON e.event_id = rel.child_event_id
		WHERE rel.room_id || '' = ` + p.arg(roomID) + ` AND rel.parent_event_id IN (` + p.list(s.db.Dialect, parentIDs) + `)`
	if len(relTypes) > 0 {
		q += ` AND rel.rel_type IN (` + p.list(s.db.Dialect, relTypes) + `)`
	}
	q += ` AND e.redacted_by IS NULL ORDER BY e.stream_pos`
	rows, err := s.db.Read.QueryContext(ctx, q, p.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rooms.RelationRow
	for rows.Next() {
		var r rooms.RelationRow
		if err := rows.Scan(&r.ParentID, &r.RelType, &r.ChildID, &r.ChildType, &r.ChildIsState, &r.Sender,
			&r.StreamPos, &r.OriginServerTS, &r.HistoryVisibility); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *RoomStore) ThreadRoots(ctx context.Context, q rooms.ThreadQuery) ([]rooms.ThreadRoot, error) {
	var p placeholders
	var b strings.Builder
	b.WriteString(`SELECT ` + eventColumns + `, t.latest FROM (
			SELECT rel.parent_event_id AS root_id, MAX(rel.stream_pos) AS latest
			FROM event_relations rel JOIN events c ON c.event_id = rel.child_event_id AND c.redacted_by IS NULL
			WHERE rel.room_id = ` + p.arg(q.RoomID) + ` AND rel.rel_type = 'm.thread'
			GROUP BY rel.parent_event_id
		) t
		JOIN events e ON e.event_id = t.root_id JOIN rooms r ON r.room_id = e.room_id
		WHERE e.room_id = ` + p.arg(q.RoomID) + shownToClients + ` AND t.latest <= ` + p.arg(q.Before))
	if q.Participant != "" {
		b.WriteString(` AND (e.sender = ` + p.arg(q.Participant) + ` OR EXISTS (
			SELECT 1 FROM event_relations rel2 JOIN events c2 ON c2.event_id = rel2.child_event_id AND c2.redacted_by IS NULL
			WHERE rel2.parent_event_id = t.root_id AND rel2.rel_type = 'm.thread' AND c2.sender = ` + p.arg(q.Participant) + `))`)
	}
	b.WriteString(` ORDER BY t.latest DESC LIMIT ` + p.arg(q.Limit))
	rows, err := s.db.Read.QueryContext(ctx, b.String(), p.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rooms.ThreadRoot
	for rows.Next() {
		var tr rooms.ThreadRoot
		var latest int64
		se, err := scanEvent(rowWithExtra{rows, &latest})
		if err != nil {
			return nil, err
		}
		tr.Root, tr.LatestPos = se, latest
		out = append(out, tr)
	}
	return out, rows.Err()
}

// rowWithExtra scans eventColumns and then one more column.
type rowWithExtra struct {
	rows  *sql.Rows
	extra any
}

func (r rowWithExtra) Scan(dest ...any) error { return r.rows.Scan(append(dest, r.extra)...) }

func (s *RoomStore) EventsByTimestamp(ctx context.Context, roomID string, ts, pos int64, backwards bool, limit int) ([]rooms.StoredEvent, error) {
	var p placeholders
	q := `SELECT ` + eventColumns + ` FROM events e JOIN rooms r ON r.room_id = e.room_id WHERE e.room_id = ` + p.arg(roomID) + shownToClients
	if backwards {
		q += ` AND (e.origin_server_ts < ` + p.arg(ts) + ` OR (e.origin_server_ts = ` + p.arg(ts) + ` AND e.stream_pos < ` + p.arg(pos) + `))
			ORDER BY e.origin_server_ts DESC, e.stream_pos DESC`
	} else {
		q += ` AND (e.origin_server_ts > ` + p.arg(ts) + ` OR (e.origin_server_ts = ` + p.arg(ts) + ` AND e.stream_pos > ` + p.arg(pos) + `))
			ORDER BY e.origin_server_ts ASC, e.stream_pos ASC`
	}
	q += ` LIMIT ` + p.arg(limit)
	return collectEvents(s.db.Read.QueryContext(ctx, q, p.args...))
}
