package clientsync

import (
	"fmt"
	"strconv"
	"strings"
)

// Token is a position in everything a sync can see: Pos orders stored
// writes (events, receipts, account data, to-device...); Typing is the
// in-memory typing serial. Clients treat it as opaque; it stays valid
// across restarts because Pos is persistent and a typing serial from
// before a restart simply resends current typing state.
type Token struct {
	Pos    int64
	Typing int64
	// ToDevice, when set, is the position up to which the device has been
	// sent its to-device messages: a response capped at 100 of them, or
	// at sync_limits.to_device_bytes (internal/e2ee), leaves the rest
	// pending, so acknowledging this token
	// deletes only those up to ToDevice, not up to Pos.
	ToDevice int64
}

func (t Token) String() string {
	if t.ToDevice > 0 {
		return fmt.Sprintf("s%d_%d_%d", t.Pos, t.Typing, t.ToDevice)
	}
	return fmt.Sprintf("s%d_%d", t.Pos, t.Typing)
}

// ParseToken reads a sync token ("s12_3"); "t12" pagination tokens are
// accepted as positions too.
func ParseToken(s string) (Token, bool) {
	if len(s) < 2 || (s[0] != 's' && s[0] != 't') {
		return Token{}, false
	}
	posPart, typingPart, hasTyping := strings.Cut(s[1:], "_")
	pos, err := strconv.ParseInt(posPart, 10, 64)
	if err != nil || pos < 0 {
		return Token{}, false
	}
	t := Token{Pos: pos}
	if hasTyping {
		typingPart, rest, hasRest := strings.Cut(typingPart, "_")
		n, err := strconv.ParseInt(typingPart, 10, 64)
		if err != nil || n < 0 {
			return Token{}, false
		}
		t.Typing = n
		if hasRest {
			// The to-device part; further parts, if any, are ignored:
			// room for future streams.
			tdPart, _, _ := strings.Cut(rest, "_")
			td, err := strconv.ParseInt(tdPart, 10, 64)
			if err != nil || td < 0 {
				return Token{}, false
			}
			t.ToDevice = td
		}
	}
	return t, true
}
