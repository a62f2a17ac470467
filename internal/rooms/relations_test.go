package rooms

import (
	"encoding/json"
	"testing"
)

// RelationOf takes what the spec's m.relates_to schema allows and ignores
// the rest (invalid relationships are ignored), including rich replies,
// which have no rel_type.
func TestRelationOf(t *testing.T) {
	for _, c := range []struct {
		content string
		want    Relation
		ok      bool
	}{
		{`{"m.relates_to":{"rel_type":"m.thread","event_id":"$root"}}`, Relation{"m.thread", "$root"}, true},
		{`{"body":"x","m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"👍"}}`, Relation{"m.annotation", "$e"}, true},
		{`{"m.relates_to":{"m.in_reply_to":{"event_id":"$e"}}}`, Relation{}, false},
		{`{"m.relates_to":"m.thread"}`, Relation{}, false},
		{`{"m.relates_to":{"rel_type":"m.thread","event_id":5}}`, Relation{}, false},
		{`{"m.relates_to":{"rel_type":"m.thread","event_id":"root"}}`, Relation{}, false},
		{`{"m.relates_to":{"rel_type":"","event_id":"$root"}}`, Relation{}, false},
		{`{"m.relates_to":{"rel_type":"m.thread","event_id":"$ro\u0000ot"}}`, Relation{}, false},
		{`{"body":"m.relates_to"}`, Relation{}, false},
		{`{}`, Relation{}, false},
	} {
		got, ok := RelationOf(json.RawMessage(c.content))
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %+v %v, want %+v %v", c.content, got, ok, c.want, c.ok)
		}
	}
}

// m.space.child order strings: at most 50 printable ASCII characters.
func TestValidSpaceChildOrder(t *testing.T) {
	for s, want := range map[string]bool{"": true, "a": true, "~ !": true, "\x7f": false, "é": false, "\n": false,
		"12345678901234567890123456789012345678901234567890": true, "123456789012345678901234567890123456789012345678901": false} {
		if validOrder(s) != want {
			t.Errorf("validOrder(%q) = %v", s, !want)
		}
	}
}
