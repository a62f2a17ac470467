package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// State groups: every event records the room state after it as a state
// group (events.state_group). A group is stored either full (prev_id NULL,
// chain_len 0: every (type, state_key) → event_id) or as the entries that
// differ from an earlier group (prev_id, chain_len = the earlier one's + 1;
// an entry with an empty event_id removes its key). Reading a group walks at
// most maxStateChain deltas back to a full group, so "state after event X"
// costs the size of the state plus a bounded chain, never the length of
// the room's history; "state before X" is the state after its
// prev_events (their one group, or the resolution of several).
//
// A new group is stored as a delta while the chain stays short and the
// delta small, full otherwise. An event that changes no state (a message,
// a rejected event) shares the group of the state before it. A group's ID
// is the stream position of the event that made it, or a position
// reserved for it (resolved state), so IDs never collide.
const (
	maxStateChain = 32
	maxStateDelta = 64
)

// querier is a *sql.Tx or *sql.DB.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// readStateGroup returns the state of group id: (type, state_key) → event ID.
//
// The chain is read first and each of its groups' entries by primary key:
// CROSS JOIN keeps SQLite to that order, where its planner otherwise may
// scan every group's entries (the whole room's history of state) against
// a filter of the chain. PostgreSQL plans it by its statistics either way.
func readStateGroup(ctx context.Context, q querier, id int64) (map[matrixevents.StateTuple]string, error) {
	rows, err := q.QueryContext(ctx, `WITH RECURSIVE chain (id, prev_id, n) AS (
			SELECT id, prev_id, 0 FROM state_groups WHERE id = $1
			UNION ALL
			SELECT g.id, g.prev_id, c.n + 1 FROM state_groups g JOIN chain c ON g.id = c.prev_id WHERE c.n < $2
		)
		SELECT s.type, s.state_key, s.event_id, c.n FROM chain c CROSS JOIN state_group_entries s WHERE s.group_id = c.id
		ORDER BY c.n DESC`, id, maxStateChain+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	state := map[matrixevents.StateTuple]string{}
	// Oldest first, so nearer deltas overwrite.
	for rows.Next() {
		var t matrixevents.StateTuple
		var eventID string
		var n int
		if err := rows.Scan(&t.Type, &t.StateKey, &eventID, &n); err != nil {
			return nil, err
		}
		if eventID == "" {
			delete(state, t)
		} else {
			state[t] = eventID
		}
	}
	return state, rows.Err()
}

// writeStateGroup stores group id of roomID as delta on prevID (0: none),
// or full when the chain or the delta would grow too long.
func writeStateGroup(ctx context.Context, tx *sql.Tx, id int64, roomID string, prevID int64, delta map[matrixevents.StateTuple]string) error {
	chain := -1
	if prevID != 0 {
		err := tx.QueryRowContext(ctx, `SELECT chain_len FROM state_groups WHERE id = $1`, prevID).Scan(&chain)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("state group %d builds on unknown group %d", id, prevID)
		}
		if err != nil {
			return err
		}
	}
	entries := delta
	var prev sql.NullInt64
	if chain >= 0 && chain+1 < maxStateChain && len(delta) <= maxStateDelta {
		prev = sql.NullInt64{Int64: prevID, Valid: true}
		chain++
	} else {
		entries = map[matrixevents.StateTuple]string{}
		if prevID != 0 {
			full, err := readStateGroup(ctx, tx, prevID)
			if err != nil {
				return err
			}
			entries = full
		}
		for t, ev := range delta {
			if ev == "" {
				delete(entries, t)
			} else {
				entries[t] = ev
			}
		}
		chain = 0
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO state_groups (id, room_id, prev_id, chain_len) VALUES ($1, $2, $3, $4)`,
		id, roomID, prev, chain); err != nil {
		return fmt.Errorf("inserting state group: %w", err)
	}
	for t, ev := range entries {
		if _, err := tx.ExecContext(ctx, `INSERT INTO state_group_entries (group_id, type, state_key, event_id) VALUES ($1, $2, $3, $4)`,
			id, t.Type, t.StateKey, ev); err != nil {
			return fmt.Errorf("inserting state group entry: %w", err)
		}
	}
	return nil
}

// StateGroup is the state of group id, ordered by stream position. The
// events are read whatever their status: resolved state may hold a
// soft-failed event.
func (s *RoomStore) StateGroup(ctx context.Context, id int64) ([]rooms.StoredEvent, error) {
	if id == 0 {
		return nil, nil
	}
	ids, err := readStateGroup(ctx, s.db.Read, id)
	if err != nil {
		return nil, err
	}
	list := make([]string, 0, len(ids))
	for _, ev := range ids {
		list = append(list, ev)
	}
	byID, err := s.getEvents(ctx, list, true)
	if err != nil {
		return nil, err
	}
	out := make([]rooms.StoredEvent, 0, len(byID))
	for _, se := range byID {
		out = append(out, se)
	}
	slices.SortFunc(out, func(a, b rooms.StoredEvent) int {
		if a.StreamPos != b.StreamPos {
			return compareInt(a.StreamPos, b.StreamPos)
		}
		return compareInt(a.Event.Depth(), b.Event.Depth())
	})
	return out, nil
}

func (s *RoomStore) StateGroupIDs(ctx context.Context, id int64) (map[matrixevents.StateTuple]string, error) {
	if id == 0 {
		return map[matrixevents.StateTuple]string{}, nil
	}
	return readStateGroup(ctx, s.db.Read, id)
}

// stateSubsetKeys bounds the keys one StateGroupSubset query names; more
// are read in several queries.
const stateSubsetKeys = 200

func (s *RoomStore) StateGroupSubset(ctx context.Context, id int64, nonMembers bool, keys []matrixevents.StateTuple) (map[matrixevents.StateTuple]string, error) {
	state := map[matrixevents.StateTuple]string{}
	if id == 0 || (!nonMembers && len(keys) == 0) {
		return state, nil
	}
	for start := 0; start == 0 || start < len(keys); start += stateSubsetKeys {
		chunk := keys[start:min(start+stateSubsetKeys, len(keys))]
		p := placeholders{args: []any{id, maxStateChain + 1}}
		// Each condition is its own SELECT of the union: SQLite reads an OR
		// of them by scanning each group of the chain whole (a snapshot
		// holds every member), where one SELECT each seeks its range.
		var conds []string
		if nonMembers && start == 0 {
			// Two ranges of the primary key: the members between them are
			// not read.
			conds = append(conds, `s.type < 'm.room.member'`, `s.type > 'm.room.member'`)
		}
		// Keys grouped by type, each type a list of state keys: index
		// seeks, where SQLite reads a long OR of pairs by scanning.
		byType := map[string][]string{}
		var types []string
		for _, k := range chunk {
			if _, ok := byType[k.Type]; !ok {
				types = append(types, k.Type)
			}
			byType[k.Type] = append(byType[k.Type], k.StateKey)
		}
		for _, typ := range types {
			conds = append(conds, `(s.type = `+p.arg(typ)+` AND s.state_key IN (`+p.list(s.db.Dialect, byType[typ])+`))`)
		}
		if len(conds) == 0 {
			break
		}
		selects := make([]string, len(conds))
		for i, cond := range conds {
			if s.db.Dialect == Postgres {
				// A lateral subquery it may not flatten (OFFSET 0): without
				// fresh statistics PostgreSQL guessed a third of the table
				// matches a range and scanned it whole, at every join of a
				// growing room; this is an index seek per group.
				selects[i] = `SELECT e.type, e.state_key, e.event_id, c.n FROM chain c CROSS JOIN LATERAL (
					SELECT s.type, s.state_key, s.event_id FROM state_group_entries s
					WHERE s.group_id = c.id AND ` + cond + ` OFFSET 0) e`
				continue
			}
			selects[i] = `SELECT s.type, s.state_key, s.event_id, c.n FROM chain c CROSS JOIN state_group_entries s
				WHERE s.group_id = c.id AND ` + cond
		}
		rows, err := s.db.Read.QueryContext(ctx, `WITH RECURSIVE chain (id, prev_id, n) AS (
				SELECT id, prev_id, 0 FROM state_groups WHERE id = $1
				UNION ALL
				SELECT g.id, g.prev_id, c.n + 1 FROM state_groups g JOIN chain c ON g.id = c.prev_id WHERE c.n < $2
			)
			`+strings.Join(selects, " UNION ALL ")+`
			ORDER BY 4 DESC`, p.args...)
		if err != nil {
			return nil, err
		}
		// Oldest first, so nearer deltas overwrite; this query's keys are
		// disjoint from the other queries'.
		for rows.Next() {
			var t matrixevents.StateTuple
			var eventID string
			var n int
			if err := rows.Scan(&t.Type, &t.StateKey, &eventID, &n); err != nil {
				rows.Close()
				return nil, err
			}
			if eventID == "" {
				delete(state, t)
			} else {
				state[t] = eventID
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			break
		}
	}
	return state, nil
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
