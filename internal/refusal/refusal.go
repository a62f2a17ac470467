// Package refusal is how a service says no: a kind, which the HTTP layer
// turns into a Matrix status and errcode in one place, and a message a
// person understands.
package refusal

import (
	"fmt"
	"time"
)

// Kind classifies a refusal; each kind is one Matrix error.
type Kind int

const (
	// NotFound is 404 M_NOT_FOUND.
	NotFound Kind = iota + 1
	// Forbidden is 403 M_FORBIDDEN.
	Forbidden
	// GuestForbidden is 403 M_GUEST_ACCESS_FORBIDDEN.
	GuestForbidden
	// InvalidParam is 400 M_INVALID_PARAM.
	InvalidParam
	// BadJSON is 400 M_BAD_JSON: a field of the wrong JSON shape.
	BadJSON
	// MissingParam is 400 M_MISSING_PARAM.
	MissingParam
	// Unknown is 400 M_UNKNOWN, the spec's code for some refusals (push
	// rule IDs, unknown before/after rules).
	Unknown
	// TooLarge is 413 M_TOO_LARGE.
	TooLarge
	// LimitExceeded is 429 M_LIMIT_EXCEEDED.
	LimitExceeded
	// RoomInUse is 400 M_ROOM_IN_USE.
	RoomInUse
	// UnsupportedRoomVersion is 400 M_UNSUPPORTED_ROOM_VERSION.
	UnsupportedRoomVersion
	// InvalidRoomState is 400 M_INVALID_ROOM_STATE.
	InvalidRoomState
	// BadAlias is 400 M_BAD_ALIAS: a canonical alias that does not exist
	// or points elsewhere.
	BadAlias
	// ServerManaged is 405 M_BAD_JSON: a type only the server sets.
	ServerManaged
	// WrongRoomKeysVersion is 403 M_WRONG_ROOM_KEYS_VERSION; the error's
	// CurrentVersion says which backup is current.
	WrongRoomKeysVersion
)

// Error is a refusal.
type Error struct {
	Kind Kind
	Msg  string
	// CurrentVersion is set with WrongRoomKeysVersion.
	CurrentVersion string
	// RetryAfter may be set with LimitExceeded: when to try again.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Msg }

// New makes a refusal of kind with a formatted message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
