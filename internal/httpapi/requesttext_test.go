package httpapi

import "testing"

func TestCheckJSONTextFindsOnlyRealNULEscapes(t *testing.T) {
	for _, c := range []struct {
		body string
		code string // "" when accepted
	}{
		{`{"a":"b"}`, ""},
		{`{"a":"\\u0000"}`, ""}, // an escaped backslash, then the letters u0000
		{`{"a":"\u0000"}`, "M_BAD_JSON"},
		{`{"\u0000":1}`, "M_BAD_JSON"},
		{`{"a":"\\\u0000"}`, "M_BAD_JSON"},
		{`{"a":["x","\u0000"]}`, "M_BAD_JSON"},
		{`{"a":"\u00000"}`, "M_BAD_JSON"},
		{`{"a":"\u0001"}`, ""},
		{`not json \u0000`, ""}, // left to the decoder's M_NOT_JSON
		{"{\"a\":\"\xff\"}", "M_NOT_JSON"},
	} {
		err := CheckJSONText([]byte(c.body))
		got := ""
		if err != nil {
			got = err.(*Error).Code
		}
		if got != c.code {
			t.Errorf("checkJSONText(%q) = %q, want %q", c.body, got, c.code)
		}
	}
}
