package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"foyer/internal/rooms"
)

// The search index (event_search, migration 0052): SQLite FTS5 with the
// Porter stemmer over Unicode words, keyed by rowid = the event's stream
// position and holding no copy of the text; PostgreSQL a tsvector of the
// English configuration with a GIN index, keyed by stream_pos. Both stem
// English words, so "running" finds "runs" on either.
const (
	searchConfig            = "english"
	sqliteCreateEventSearch = `CREATE VIRTUAL TABLE event_search USING fts5(value, content='', contentless_delete=1,
		tokenize='porter unicode61 remove_diacritics 2')`
	postgresCreateEventSearch = `CREATE TABLE event_search (
		stream_pos BIGINT PRIMARY KEY,
		vector     tsvector NOT NULL
	);
	CREATE INDEX event_search_vector ON event_search USING GIN (vector)`
)

// searchKey is the index's column naming the event's stream position.
func (d Dialect) searchKey() string {
	if d == Postgres {
		return "stream_pos"
	}
	return "rowid"
}

// indexSearch records, in the transaction storing it, the searchable text
// of an event shown to clients.
func (s *RoomStore) indexSearch(ctx context.Context, tx *sql.Tx, pe rooms.PersistEvent) error {
	text, ok := rooms.SearchText(pe.Event)
	if !ok {
		return nil
	}
	q := `INSERT INTO event_search (rowid, value) VALUES ($1, $2)`
	if s.db.Dialect == Postgres {
		q = `INSERT INTO event_search (stream_pos, vector) VALUES ($1, to_tsvector('` + searchConfig + `', $2))
			ON CONFLICT (stream_pos) DO NOTHING`
	}
	if _, err := tx.ExecContext(ctx, q, pe.StreamPos, text); err != nil {
		return fmt.Errorf("indexing event for search: %w", err)
	}
	return nil
}

// unindexSearch takes a redacted (or pruned) event out of the index.
func (s *RoomStore) unindexSearch(ctx context.Context, tx *sql.Tx, eventID string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM event_search WHERE `+s.db.Dialect.searchKey()+` IN (SELECT stream_pos FROM events WHERE event_id = $1)`, eventID)
	if err != nil {
		return fmt.Errorf("removing a redacted event from the search index: %w", err)
	}
	return nil
}

// searchMatch builds the part of a search query shared by the page and
// the count: SELECT {{columns}} FROM ... WHERE, with the match first,
// and the expression of the rank.
func (s *RoomStore) searchMatch(p *placeholders, q rooms.SearchQuery) (string, string) {
	var b strings.Builder
	var rank string
	if s.db.Dialect == Postgres {
		fmt.Fprintf(&b, `WITH q AS (SELECT %s AS query)
			SELECT {{columns}} FROM q CROSS JOIN event_search s JOIN events e ON e.stream_pos = s.stream_pos
			WHERE s.vector @@ q.query`, postgresSearchQuery(p, q.Expr))
		rank = "ts_rank_cd(s.vector, q.query)"
	} else {
		// FTS5 answers the match; each hit is then read by primary key.
		b.WriteString(`SELECT {{columns}} FROM event_search CROSS JOIN events e ON e.stream_pos = event_search.rowid
			WHERE event_search MATCH ` + p.arg(sqliteSearchQuery(q.Expr)))
		rank = "-bm25(event_search)"
	}
	d := s.db.Dialect
	// Each match is read by its stream position; SQLite would otherwise
	// look it up once per room of the list (unary + keeps the room column
	// off its indexes).
	roomCol := "e.room_id"
	if d == SQLite {
		roomCol = "+e.room_id"
	}
	fmt.Fprintf(&b, " AND %s IN (SELECT v.value FROM %s)", roomCol, d.jsonStrings(p, q.RoomIDs))
	fmt.Fprintf(&b, " AND e.type IN (SELECT v.value FROM %s)", d.jsonStrings(p, q.Types))
	b.WriteString(shownToClients + " AND e.redacted_by IS NULL")
	s.writeEventFilter(&b, p, q.Filter)
	// The viewer's first membership that opens the room's joined or
	// invited history to them.
	viewer := p.arg(q.Viewer)
	fmt.Fprintf(&b, ` AND (e.history_visibility NOT IN ('joined', 'invited') OR e.stream_pos > (
		SELECT MIN(m.stream_pos) FROM events m WHERE m.room_id = e.room_id AND m.type = 'm.room.member' AND m.state_key = %s
		AND (m.membership = 'join' OR (m.membership = 'invite' AND e.history_visibility = 'invited'))
		AND m.rejected = FALSE AND m.soft_failed = FALSE AND m.outlier = FALSE))`, viewer)
	return b.String(), rank
}

// searchWindow bounds the work of one search, whatever the term: rank
// order ranks the newest searchWindow matches, and count counts at most
// that many. Newest first reads only the page's matches (and the ones
// the caller may not see among them).
const searchWindow = 10_000

func (s *RoomStore) SearchEvents(ctx context.Context, q rooms.SearchQuery) ([]rooms.SearchHit, error) {
	if len(q.Expr) == 0 || len(q.RoomIDs) == 0 || len(q.Types) == 0 || q.Limit <= 0 {
		return nil, nil
	}
	var p placeholders
	query, rank := s.searchMatch(&p, q)
	pos := "e.stream_pos"
	if s.db.Dialect == SQLite {
		// FTS5 lists its matches in rowid (stream position) order, so
		// newest first needs no sort and stops where the LIMIT says.
		pos = "event_search.rowid"
	}
	// The page is chosen reading the events table's indexed columns
	// only; its rows are read whole after.
	var b strings.Builder
	b.WriteString("SELECT hit.search_rank, " + eventColumns + " FROM (")
	if q.Recent {
		b.WriteString(strings.Replace(query, "{{columns}}", rank+" AS search_rank, "+pos+" AS pos", 1))
		if q.Before != nil {
			b.WriteString(" AND " + pos + " < " + p.arg(*q.Before))
		}
		b.WriteString(" ORDER BY " + pos + " DESC LIMIT " + p.arg(q.Limit))
		b.WriteString(") hit JOIN events e ON e.stream_pos = hit.pos JOIN rooms r ON r.room_id = e.room_id ORDER BY hit.pos DESC")
	} else {
		b.WriteString("SELECT search_rank, pos FROM (")
		b.WriteString(strings.Replace(query, "{{columns}}", rank+" AS search_rank, "+pos+" AS pos", 1))
		b.WriteString(" ORDER BY " + pos + " DESC LIMIT " + p.arg(searchWindow) + ") newest")
		// Equal ranks list the older first, as Synapse's do (Complement's
		// search of an upgraded room and its predecessor expects it).
		b.WriteString(" ORDER BY search_rank DESC, pos ASC LIMIT " + p.arg(q.Limit))
		if q.Offset > 0 {
			b.WriteString(" OFFSET " + p.arg(q.Offset))
		}
		b.WriteString(") hit JOIN events e ON e.stream_pos = hit.pos JOIN rooms r ON r.room_id = e.room_id ORDER BY hit.search_rank DESC, hit.pos ASC")
	}
	rows, err := s.db.Read.QueryContext(ctx, b.String(), s.db.Dialect.plannedPerRun(p.args)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rooms.SearchHit
	for rows.Next() {
		var h rooms.SearchHit
		if h.Event, err = scanEvent(rankedRow{rows, &h.Rank}); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func (s *RoomStore) CountSearch(ctx context.Context, q rooms.SearchQuery) (int, error) {
	if len(q.Expr) == 0 || len(q.RoomIDs) == 0 || len(q.Types) == 0 {
		return 0, nil
	}
	var p placeholders
	query, _ := s.searchMatch(&p, q)
	query = strings.Replace(query, "{{columns}}", "1", 1) + " LIMIT " + p.arg(searchWindow)
	var n int
	err := s.db.Read.QueryRowContext(ctx, "SELECT COUNT(*) FROM ("+query+") matches", s.db.Dialect.plannedPerRun(p.args)...).Scan(&n)
	return n, err
}

// plannedPerRun has PostgreSQL plan a search for its own term each time
// (an unnamed statement), not reuse the generic plan it adopts for a
// prepared statement after five runs: not knowing the term, that plan
// ranks a common word four times slower (measured).
func (d Dialect) plannedPerRun(args []any) []any {
	if d != Postgres {
		return args
	}
	return append([]any{pgx.QueryExecModeExec}, args...)
}

// rankedRow scans a row whose first column is the rank, then an event.
type rankedRow struct {
	rows *sql.Rows
	rank *float64
}

func (r rankedRow) Scan(dest ...any) error { return r.rows.Scan(append([]any{r.rank}, dest...)...) }

// sqliteSearchQuery writes the expression in FTS5's query syntax: every
// word double-quoted (words hold only letters, marks and digits, so none
// is an operator), a prefix word followed by *.
func sqliteSearchQuery(expr rooms.SearchExpr) string {
	groups := make([]string, 0, len(expr))
	for _, g := range expr {
		var pos, neg []string
		for _, c := range g {
			term := `"` + strings.Join(c.Words, " ") + `"`
			if c.Prefix {
				term += " *"
			}
			if c.Negated {
				neg = append(neg, term)
			} else {
				pos = append(pos, term)
			}
		}
		q := "(" + strings.Join(pos, " AND ") + ")"
		for _, n := range neg {
			q = "(" + q + " NOT " + n + ")"
		}
		groups = append(groups, q)
	}
	return strings.Join(groups, " OR ")
}

// postgresSearchQuery builds the tsquery from one parameter per clause: a
// prefix word as to_tsquery('word:*') (the word holds only letters, marks
// and digits, so it spells no operator), a phrase with phraseto_tsquery.
// The operators are SQL's, parenthesised, since && and || share one
// precedence there.
func postgresSearchQuery(p *placeholders, expr rooms.SearchExpr) string {
	groups := make([]string, 0, len(expr))
	for _, g := range expr {
		terms := make([]string, 0, len(g))
		for _, c := range g {
			var t string
			if c.Prefix {
				t = "to_tsquery('" + searchConfig + "', " + p.arg(c.Words[0]+":*") + ")"
			} else {
				t = "phraseto_tsquery('" + searchConfig + "', " + p.arg(strings.Join(c.Words, " ")) + ")"
			}
			if c.Negated {
				t = "(!! " + t + ")"
			}
			terms = append(terms, t)
		}
		groups = append(groups, "("+strings.Join(terms, " && ")+")")
	}
	return "(" + strings.Join(groups, " || ") + ")"
}
