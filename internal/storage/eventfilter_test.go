package storage

import (
	"fmt"
	"testing"

	"foyer/internal/rooms"
)

// The filter's SQL and its parameter count do not grow with its lists, so
// no list length reaches SQLite's expression depth or PostgreSQL's
// parameter limit.
func TestEventFilterSQLDoesNotGrowWithLists(t *testing.T) {
	filter := func(n int) rooms.EventFilter {
		var f rooms.EventFilter
		for i := range n {
			f.Types = append(f.Types, fmt.Sprintf("t%d", i), fmt.Sprintf("p%d.*", i))
			f.NotTypes = append(f.NotTypes, fmt.Sprintf("n%d", i))
			f.Senders = append(f.Senders, fmt.Sprintf("@s%d:x", i))
			f.NotSenders = append(f.NotSenders, fmt.Sprintf("@n%d:x", i))
		}
		return f
	}
	for _, d := range []Dialect{SQLite, Postgres} {
		var one, many placeholders
		sqlOne, sqlMany := d.eventFilterSQL(&one, filter(1)), d.eventFilterSQL(&many, filter(10000))
		if sqlOne != sqlMany || len(one.args) != len(many.args) {
			t.Errorf("%s: %q with %d parameters grew to %q with %d", d, sqlOne, len(one.args), sqlMany, len(many.args))
		}
	}
}

func TestTypePatternEscapesAllButStar(t *testing.T) {
	for _, c := range []struct {
		d        Dialect
		in, want string
	}{
		{Postgres, `m.room.*`, `m.room.%`},
		{Postgres, `a%b_c\d*`, `a\%b\_c\\d%`},
		{SQLite, `m.room.*`, `m.room.*`},
		{SQLite, `a?b[c]*`, `a[?]b[[]c]*`},
	} {
		if got := c.d.typePattern(c.in); got != c.want {
			t.Errorf("%s typePattern(%q) = %q, want %q", c.d, c.in, got, c.want)
		}
	}
}
