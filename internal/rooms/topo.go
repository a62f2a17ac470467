package rooms

import (
	"math"
	"strconv"
	"strings"
)

// TopoPos is a place in a room's topological order, the order /messages
// and /context page through: events sort by depth, then by stream
// position (an event that arrives late sorts by where it belongs in the
// DAG, not by when it came). A position means "just after the event
// there"; {Depth, Stream-1} is the position just before it.
type TopoPos struct {
	Depth, Stream int64
}

// topoEnd is after every event.
var topoEnd = TopoPos{Depth: math.MaxInt64, Stream: math.MaxInt64}

// topoOf is the position of a stored event.
func topoOf(se StoredEvent) TopoPos { return TopoPos{Depth: se.Event.Depth(), Stream: se.StreamPos} }

// before is the position just before the event at p.
func (p TopoPos) before() TopoPos { return TopoPos{Depth: p.Depth, Stream: p.Stream - 1} }

// PageToken is a /messages, /context or /members token: a topological
// position ("t3-120", from /messages and /context) or a stream position
// ("t120" or a sync token "s120_4", which /sync hands out as prev_batch).
type PageToken struct {
	Topo   TopoPos
	IsTopo bool
	Stream int64
}

// FormatTopoToken writes a topological position as a token.
func FormatTopoToken(p TopoPos) string {
	return "t" + strconv.FormatInt(p.Depth, 10) + "-" + strconv.FormatInt(p.Stream, 10)
}

// ParsePageToken reads a pagination token of either kind.
func ParsePageToken(tok string) (PageToken, bool) {
	if strings.HasPrefix(tok, "t") {
		if d, st, ok := strings.Cut(tok[1:], "-"); ok {
			depth, err1 := strconv.ParseInt(d, 10, 64)
			stream, err2 := strconv.ParseInt(st, 10, 64)
			if err1 != nil || err2 != nil || depth < 0 {
				return PageToken{}, false
			}
			return PageToken{Topo: TopoPos{Depth: depth, Stream: stream}, IsTopo: true, Stream: max(stream, 0)}, true
		}
	}
	pos, ok := ParseToken(tok)
	return PageToken{Stream: pos}, ok
}
