package rooms

import "strings"

// TypePatternMatches reports whether an event type matches a filter's type
// pattern. As the spec says, '*' matches any run of characters and is the
// only wildcard: every other character, '%' and '_' included, matches only
// itself, case-sensitively.
func TypePatternMatches(pattern, typ string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == typ
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(typ) < len(first)+len(last) || !strings.HasPrefix(typ, first) || !strings.HasSuffix(typ, last) {
		return false
	}
	// The middle parts match leftmost-first in what the ends leave.
	rest := typ[len(first) : len(typ)-len(last)]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return true
}
