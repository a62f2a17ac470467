package rooms

import (
	"strings"
	"unicode"
)

// SearchExpr is a parsed search term: the event matches when any of its
// groups matches (OR), and a group when each of its clauses does (AND).
// Every group has at least one clause that is not negated.
type SearchExpr [][]SearchClause

// SearchClause is one word (Prefix: or any word it begins), a phrase of
// several words in order, or, Negated, a word or phrase the event must
// not hold (never a prefix: "-r" would exclude nearly everything). Words hold only letters, marks and digits, so no database's
// query syntax can be spelt with them.
type SearchClause struct {
	Words   []string
	Prefix  bool
	Negated bool
}

// Bounds on a search term, so one request cannot make a query of any size.
const (
	MaxSearchTermLength = 512 // bytes
	MaxSearchClauses    = 16
)

// ParseSearchTerm reads what a user types into a search box: words are
// all required and match as prefixes ("hel" finds "hello"), "quoted
// words" match as a phrase, -word excludes, and OR between words or
// phrases gives alternatives. Punctuation separates words (a token such
// as "foo.bar" is the phrase "foo bar"); anything else is plain text, so
// no term can fail to parse. An empty expression matches nothing.
func ParseSearchTerm(term string) SearchExpr {
	var expr SearchExpr
	var group []SearchClause
	clauses := 0
	flush := func() {
		if hasPositive(group) {
			expr = append(expr, group)
		}
		group = nil
	}
	for _, tok := range splitSearchTokens(term) {
		if tok.text == "OR" && !tok.quoted {
			flush()
			continue
		}
		if clauses >= MaxSearchClauses {
			break
		}
		words := searchWords(tok.text)
		if len(words) == 0 {
			continue
		}
		group = append(group, SearchClause{Words: words, Prefix: !tok.quoted && !tok.negated && len(words) == 1, Negated: tok.negated})
		clauses++
	}
	flush()
	return expr
}

func hasPositive(group []SearchClause) bool {
	for _, c := range group {
		if !c.Negated {
			return true
		}
	}
	return false
}

// PositiveWords are the words the expression looks for (for highlights).
func (e SearchExpr) PositiveWords() []string {
	var out []string
	for _, g := range e {
		for _, c := range g {
			if !c.Negated {
				out = append(out, c.Words...)
			}
		}
	}
	return out
}

type searchToken struct {
	text            string
	quoted, negated bool
}

// splitSearchTokens splits on spaces outside double quotes; a quote opens
// a phrase that runs to the next quote (or the end), and a leading '-'
// negates the token or phrase after it.
func splitSearchTokens(term string) []searchToken {
	var out []searchToken
	rs := []rune(term)
	for i := 0; i < len(rs); {
		if unicode.IsSpace(rs[i]) {
			i++
			continue
		}
		negated := false
		if rs[i] == '-' && i+1 < len(rs) && !unicode.IsSpace(rs[i+1]) {
			negated = true
			i++
		}
		if rs[i] == '"' {
			end := i + 1
			for end < len(rs) && rs[end] != '"' {
				end++
			}
			out = append(out, searchToken{text: string(rs[i+1 : end]), quoted: true, negated: negated})
			i = end + 1
			continue
		}
		end := i
		for end < len(rs) && !unicode.IsSpace(rs[end]) && rs[end] != '"' {
			end++
		}
		out = append(out, searchToken{text: string(rs[i:end]), negated: negated})
		i = end
	}
	return out
}

// searchWords are the runs of letters, marks and digits in s, lower-cased.
func searchWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !isSearchWordRune(r) })
}

func isSearchWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}
