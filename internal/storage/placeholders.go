package storage

import (
	"encoding/json"
	"fmt"
	"strings"
)

// maxInArgs bounds the IN lists so queries stay within both databases'
// parameter limits.
const maxInArgs = 500

// placeholders numbers query arguments in the order the SQL text uses
// them (SQLite numbers $N parameters by first appearance).
type placeholders struct{ args []any }

func (p *placeholders) arg(v any) string {
	p.args = append(p.args, v)
	return fmt.Sprintf("$%d", len(p.args))
}

// list is the values of an IN (...). On SQLite they are one parameter, a
// JSON array that json_each reads: SQLite parses numbered parameters in
// time quadratic in their count (a few hundred cost more than the query),
// and one text whatever the count is kept prepared (Pool). PostgreSQL
// takes a parameter each.
func (p *placeholders) list(d Dialect, vals []string) string {
	if d == SQLite {
		if vals == nil {
			vals = []string{}
		}
		encoded, _ := json.Marshal(vals)
		return `SELECT value FROM json_each(` + p.arg(string(encoded)) + `)`
	}
	ph := make([]string, len(vals))
	for i, v := range vals {
		ph[i] = p.arg(v)
	}
	return strings.Join(ph, ", ")
}
