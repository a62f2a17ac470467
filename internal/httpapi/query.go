package httpapi

import (
	"net/http"
	"strconv"
)

// ParseLimit reads the optional non-negative limit query parameter; def
// when it is absent.
func ParseLimit(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, ErrInvalidParam("limit must be a non-negative integer")
	}
	return n, nil
}

// BoolParam reads an optional true/false query parameter.
func BoolParam(r *http.Request, name string) (value, given bool, err error) {
	switch v := r.URL.Query().Get(name); v {
	case "":
		return false, false, nil
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, false, ErrInvalidParam("%s must be true or false", name)
}

// TokenParam reads an optional token query parameter with parse; nil when
// it is absent, M_INVALID_PARAM when parse rejects it.
func TokenParam[T any](r *http.Request, name string, parse func(string) (T, bool)) (*T, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	tok, ok := parse(v)
	if !ok {
		return nil, ErrInvalidParam("%s is not a valid token", name)
	}
	return &tok, nil
}
