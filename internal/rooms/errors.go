// Package rooms builds, authorises and persists room events: room
// creation, sending, membership, redaction, state, and who may see what
// (history visibility). Protocol rules come from matrixevents; the guest
// rules from internal/guest.
package rooms

import (
	"errors"
	"fmt"

	"foyer/internal/rooms/matrixevents"
)

// ErrorKind classifies a refusal so the HTTP layer can pick the status
// and errcode.
type ErrorKind int

const (
	KindNotFound ErrorKind = iota + 1
	KindForbidden
	KindGuestForbidden
	KindInvalidParam
	KindBadJSON
	KindRoomInUse
	KindUnsupportedRoomVersion
	KindLimitExceeded
	KindBadAlias
	KindBadState
	KindTooLarge
	// KindAliasMismatch: a canonical alias that does not exist or points
	// elsewhere (M_BAD_ALIAS).
	KindAliasMismatch
)

// Error is a refusal with a message a person understands.
type Error struct {
	Kind ErrorKind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func newErr(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// AsError turns auth-rule rejections into KindForbidden errors and passes
// other errors through.
func AsError(err error) error {
	var na *matrixevents.NotAllowedError
	if errors.As(err, &na) {
		return &Error{Kind: KindForbidden, Msg: na.Message}
	}
	return err
}

// ErrNotFound is returned by stores for missing rows.
var ErrNotFound = errors.New("not found")
