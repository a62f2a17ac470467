package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Error is a Matrix error: an HTTP status, an errcode and a message a
// person can act on. Extra fields go into the JSON body beside them.
type Error struct {
	Status  int
	Code    string
	Message string
	Extra   map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func NewError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Constructors for the errors handlers return, one per errcode.
func ErrForbidden(format string, args ...any) *Error {
	return NewError(http.StatusForbidden, "M_FORBIDDEN", format, args...)
}
func ErrGuestForbidden(format string, args ...any) *Error {
	return NewError(http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN", format, args...)
}
func ErrBadJSON(format string, args ...any) *Error {
	return NewError(http.StatusBadRequest, "M_BAD_JSON", format, args...)
}
func ErrNotJSON(format string, args ...any) *Error {
	return NewError(http.StatusBadRequest, "M_NOT_JSON", format, args...)
}
func ErrMissingParam(format string, args ...any) *Error {
	return NewError(http.StatusBadRequest, "M_MISSING_PARAM", format, args...)
}
func ErrInvalidParam(format string, args ...any) *Error {
	return NewError(http.StatusBadRequest, "M_INVALID_PARAM", format, args...)
}
func ErrNotFound(format string, args ...any) *Error {
	return NewError(http.StatusNotFound, "M_NOT_FOUND", format, args...)
}
func ErrUnrecognized(status int, format string, args ...any) *Error {
	return NewError(status, "M_UNRECOGNIZED", format, args...)
}
func ErrTooLarge(format string, args ...any) *Error {
	return NewError(http.StatusRequestEntityTooLarge, "M_TOO_LARGE", format, args...)
}
func ErrUnknownToken(format string, args ...any) *Error {
	e := NewError(http.StatusUnauthorized, "M_UNKNOWN_TOKEN", format, args...)
	e.Extra = map[string]any{"soft_logout": false}
	return e
}
func ErrNotYetUploaded(format string, args ...any) *Error {
	return NewError(http.StatusGatewayTimeout, "M_NOT_YET_UPLOADED", format, args...)
}
func ErrCannotOverwriteMedia(format string, args ...any) *Error {
	return NewError(http.StatusConflict, "M_CANNOT_OVERWRITE_MEDIA", format, args...)
}

// ErrUnknown is M_UNKNOWN with a status of the caller's choosing, for
// answers the spec gives no errcode of their own (e.g. 400 "cannot
// thumbnail this content").
func ErrUnknown(status int, format string, args ...any) *Error {
	return NewError(status, "M_UNKNOWN", format, args...)
}
func ErrMissingToken() *Error {
	return NewError(http.StatusUnauthorized, "M_MISSING_TOKEN", "this endpoint needs an access token")
}

// ErrLimitExceeded carries both the Retry-After header (set when written)
// and the older retry_after_ms field that clients still read.
func ErrLimitExceeded(retryAfter time.Duration) *Error {
	ms := retryAfter.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	e := NewError(http.StatusTooManyRequests, "M_LIMIT_EXCEEDED", "too many requests; retry in %d ms", ms)
	e.Extra = map[string]any{"retry_after_ms": ms}
	return e
}

// WriteError renders err as Matrix error JSON. An error that is neither
// an *Error nor a service's refusal is an internal fault: it is logged and answered 500 M_UNKNOWN
// without leaking its text.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	me, ok := AsMatrixError(err)
	if !ok {
		if errors.Is(err, r.Context().Err()) && r.Context().Err() != nil {
			// The client went away or the server is shutting down.
			me = NewError(http.StatusServiceUnavailable, "M_UNKNOWN", "request cancelled")
		} else {
			// The path may hold a credential (guest links): the request's
			// own log line, found by its request_id, has it redacted.
			log.ErrorContext(r.Context(), "internal error", "method", r.Method, "err", err)
			me = NewError(http.StatusInternalServerError, "M_UNKNOWN", "internal server error")
		}
	}
	body := map[string]any{"errcode": me.Code, "error": me.Message}
	for k, v := range me.Extra {
		body[k] = v
	}
	if me.Status == http.StatusTooManyRequests {
		if ms, ok := me.Extra["retry_after_ms"].(int64); ok {
			w.Header().Set("Retry-After", strconv.FormatInt((ms+999)/1000, 10))
		}
	}
	WriteJSON(w, me.Status, body)
}

// WriteJSON writes v with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"errcode":"M_UNKNOWN","error":"could not encode response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
