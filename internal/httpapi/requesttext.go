package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// checkRequestText refuses, before any handler runs, text that the two
// databases would treat differently: PostgreSQL's text types refuse a NUL
// and bytes that are not UTF-8, SQLite stores them. Path values and query
// parameters must be UTF-8 without NUL (400 M_INVALID_PARAM). A JSON body
// must be UTF-8 (M_NOT_JSON) and hold no \u0000 escape (M_BAD_JSON); a
// Route with an opaque body (media uploads) is not read here. The body is
// read once and handed on.
func checkRequestText(r *http.Request, rawBody bool) error {
	if !cleanText(r.URL.Path) {
		return ErrInvalidParam("the request path must be UTF-8 without NUL")
	}
	if err := checkQueryText(r); err != nil {
		return err
	}
	if !cleanText(r.Header.Get("Content-Type")) {
		return ErrInvalidParam("the Content-Type header must be UTF-8")
	}
	if rawBody || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body, err := ReadBody(r)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return CheckJSONText(body)
}

// checkQueryText checks the query's names and values; a request without
// a query (most) parses nothing.
func checkQueryText(r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	for key, values := range r.URL.Query() {
		if !cleanText(key) {
			return ErrInvalidParam("query parameter names must be UTF-8 without NUL")
		}
		for _, v := range values {
			if !cleanText(v) {
				return ErrInvalidParam("the query parameter %s must be UTF-8 without NUL", key)
			}
		}
	}
	return nil
}

// cleanText reports whether s is UTF-8 without NUL.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// CheckJSONText checks text that may be JSON: it must be UTF-8, and JSON
// must not hold the \u0000 escape anywhere, keys included. Text that is
// not JSON is left to the decoder, which tells M_NOT_JSON.
func CheckJSONText(raw []byte) error {
	if !utf8.Valid(raw) {
		return ErrNotJSON("the request body is not valid JSON (UTF-8)")
	}
	// The byte search first: nearly every body has no such text at all.
	if bytes.Contains(raw, []byte(`\u0000`)) && json.Valid(raw) && holdsNULEscape(raw) {
		return ErrBadJSON("JSON strings must not contain U+0000")
	}
	return nil
}

// holdsNULEscape finds a \u0000 escape in valid JSON, where a backslash
// only occurs inside a string and always starts an escape; an escaped
// backslash followed by "u0000" is skipped as the two-byte escape it is.
func holdsNULEscape(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+1 < len(raw) && raw[i+1] == 'u' && bytes.HasPrefix(raw[i+2:], []byte("0000")) {
			return true
		}
		i++ // past the escaped character
	}
	return false
}
