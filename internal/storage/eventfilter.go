package storage

import (
	"encoding/json"
	"fmt"
	"strings"

	"foyer/internal/rooms"
)

// eventFilterSQL is the WHERE part of an event filter over the events
// table e. Each list goes in as one JSON array parameter, so the SQL and
// its parameter count stay the same however long the lists are. In types,
// '*' is the only wildcard, matched case-sensitively on both databases
// (SQLite's GLOB, PostgreSQL's LIKE, with the other special characters
// escaped).
func (d Dialect) eventFilterSQL(p *placeholders, f rooms.EventFilter) string {
	var q strings.Builder
	if cond := d.typeCondition(p, f.Types); cond != "" {
		fmt.Fprintf(&q, " AND (%s)", cond)
	}
	if cond := d.typeCondition(p, f.NotTypes); cond != "" {
		fmt.Fprintf(&q, " AND NOT (%s)", cond)
	}
	if len(f.Senders) > 0 {
		fmt.Fprintf(&q, " AND e.sender IN (SELECT v.value FROM %s)", d.jsonStrings(p, f.Senders))
	}
	if len(f.NotSenders) > 0 {
		fmt.Fprintf(&q, " AND e.sender NOT IN (SELECT v.value FROM %s)", d.jsonStrings(p, f.NotSenders))
	}
	return q.String()
}

// typeCondition is true for an event whose type is one of the exact
// types or matches one of the patterns; "" for no types.
func (d Dialect) typeCondition(p *placeholders, types []string) string {
	var exact, patterns []string
	for _, t := range types {
		if strings.Contains(t, "*") {
			patterns = append(patterns, d.typePattern(t))
		} else {
			exact = append(exact, t)
		}
	}
	var conds []string
	if len(exact) > 0 {
		conds = append(conds, "e.type IN (SELECT v.value FROM "+d.jsonStrings(p, exact)+")")
	}
	if len(patterns) > 0 {
		match := "GLOB"
		if d == Postgres {
			match = "LIKE" // case-sensitive there; the escape is the default backslash
		}
		conds = append(conds, "EXISTS (SELECT 1 FROM "+d.jsonStrings(p, patterns)+" WHERE e.type "+match+" v.value)")
	}
	return strings.Join(conds, " OR ")
}

// jsonStrings is a table v with one text column value, a row per string,
// read from one JSON array parameter.
func (d Dialect) jsonStrings(p *placeholders, list []string) string {
	enc, _ := json.Marshal(list) // strings always encode
	if d == Postgres {
		return "jsonb_array_elements_text(CAST(CAST(" + p.arg(string(enc)) + " AS text) AS jsonb)) AS v(value)"
	}
	return "json_each(" + p.arg(string(enc)) + ") AS v"
}

// typePattern turns a filter type pattern, where only '*' is a wildcard,
// into this database's pattern: GLOB for SQLite (whose '?' and '[' are
// written as one-character classes), LIKE for PostgreSQL ('%', '_' and
// the backslash escaped).
func (d Dialect) typePattern(t string) string {
	if d == Postgres {
		return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`, `*`, `%`).Replace(t)
	}
	return strings.NewReplacer(`?`, `[?]`, `[`, `[[]`).Replace(t)
}
