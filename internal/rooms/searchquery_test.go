package rooms

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSearchTerm(t *testing.T) {
	w := func(words ...string) SearchClause { return SearchClause{Words: words, Prefix: len(words) == 1} }
	for term, want := range map[string]SearchExpr{
		"Hello world":       {{w("hello"), w("world")}},
		`"brown fox" jumps`: {{{Words: []string{"brown", "fox"}}, w("jumps")}},
		`"solo"`:            {{{Words: []string{"solo"}}}},
		"fox -dog":          {{w("fox"), {Words: []string{"dog"}, Negated: true}}},
		"cat OR dog":        {{w("cat")}, {w("dog")}},
		"cat or dog":        {{w("cat"), w("or"), w("dog")}},
		"-only OR yes":      {{w("yes")}},
		"foo.bar":           {{{Words: []string{"foo", "bar"}}}},
		`a*b NEAR(c) "d`:    {{{Words: []string{"a", "b"}}, {Words: []string{"near", "c"}}, {Words: []string{"d"}}}},
		"":                  nil,
		`- -- OR : * ' \ `:  nil,
		`"unclosed OR`:      {{{Words: []string{"unclosed", "or"}}}},
		"Ünïcödé ☃ 雪":       {{w("ünïcödé"), w("雪")}},
	} {
		if got := ParseSearchTerm(term); !reflect.DeepEqual(got, want) {
			t.Errorf("ParseSearchTerm(%q) = %+v, want %+v", term, got, want)
		}
	}
	if got := ParseSearchTerm(strings.Repeat("w ", 100)); len(got) != 1 || len(got[0]) != MaxSearchClauses {
		t.Errorf("a long term keeps %d clauses, want %d", len(got[0]), MaxSearchClauses)
	}
}
