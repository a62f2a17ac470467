package rooms

import "testing"

func TestTypePatternMatches(t *testing.T) {
	cases := []struct {
		pattern, typ string
		want         bool
	}{
		{"m.room.message", "m.room.message", true},
		{"m.room.message", "m.room.messages", false},
		{"*", "anything", true},
		{"*", "", true},
		{"m.room.*", "m.room.message", true},
		{"m.room.*", "m.room.", true},
		{"m.room.*", "m.roomy", false},
		{"*.message", "m.room.message", true},
		{"m.*.message", "m.room.message", true},
		{"m.*.message", "m.message", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "acb", false},
		{"a*a", "a", false},
		{"%", "m.room.message", false},
		{"m.room._essage", "m.room.message", false},
		{"M.ROOM.MESSAGE", "m.room.message", false},
		{"m.room.%", "m.room.%", true},
	}
	for _, c := range cases {
		if got := TypePatternMatches(c.pattern, c.typ); got != c.want {
			t.Errorf("TypePatternMatches(%q, %q) = %v, want %v", c.pattern, c.typ, got, c.want)
		}
	}
}
