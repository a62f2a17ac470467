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
	// UserLimitExceeded is 403 M_USER_LIMIT_EXCEEDED: a cap on what one
	// account may store; the error's InfoURI and CanUpgrade go with it.
	UserLimitExceeded
	// Remote is another server's 4xx answer relayed to the client as it
	// came: the error's Status and Code (a join the room's server refused).
	Remote
	// Unreachable is 502 M_UNKNOWN: no other server that could do what
	// was asked answered (every server of a remote room is down).
	Unreachable
	// UnableToAuthoriseJoin is 400 M_UNABLE_TO_AUTHORISE_JOIN: this server
	// cannot tell whether the user meets a restricted room's conditions
	// (it is not in the rooms they name).
	UnableToAuthoriseJoin
	// UnableToGrantJoin is 400 M_UNABLE_TO_GRANT_JOIN: the user meets a
	// restricted room's conditions, but no user of this server may invite
	// them; another server should be asked.
	UnableToGrantJoin
	// CannotLeaveServerNoticeRoom is 403 M_CANNOT_LEAVE_SERVER_NOTICE_ROOM:
	// an invite to a server-notices room cannot be rejected.
	CannotLeaveServerNoticeRoom
)

// Error is a refusal.
type Error struct {
	Kind Kind
	Msg  string
	// CurrentVersion is set with WrongRoomKeysVersion.
	CurrentVersion string
	// RetryAfter, with LimitExceeded, is when trying again makes sense.
	RetryAfter time.Duration
	// InfoURI and CanUpgrade are set with UserLimitExceeded: where the
	// user reads about the limit, and whether registering a full account
	// raises it.
	InfoURI    string
	CanUpgrade bool
	// Status and Code are set with Remote, and RoomVersion when the
	// remote answer named one (M_INCOMPATIBLE_ROOM_VERSION).
	Status      int
	Code        string
	RoomVersion string
}

func (e *Error) Error() string { return e.Msg }

// New makes a refusal of kind with a formatted message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
