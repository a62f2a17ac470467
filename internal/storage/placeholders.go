package storage

import (
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

func (p *placeholders) list(vals []string) string {
	ph := make([]string, len(vals))
	for i, v := range vals {
		ph[i] = p.arg(v)
	}
	return strings.Join(ph, ", ")
}
