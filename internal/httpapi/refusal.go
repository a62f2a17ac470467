package httpapi

import (
	"errors"
	"net/http"

	"foyer/internal/refusal"
)

// asMatrixError finds the Matrix error err stands for: an *Error made
// here, or a service's refusal, turned into its status and errcode.
func asMatrixError(err error) (*Error, bool) {
	var me *Error
	if errors.As(err, &me) {
		return me, true
	}
	var re *refusal.Error
	if !errors.As(err, &re) {
		return nil, false
	}
	return fromRefusal(re), true
}

// fromRefusal is the one table from refusal kinds to Matrix errors.
func fromRefusal(re *refusal.Error) *Error {
	switch re.Kind {
	case refusal.NotFound:
		return errNotFound("%s", re.Msg)
	case refusal.GuestForbidden:
		return errGuestForbidden("%s", re.Msg)
	case refusal.InvalidParam:
		return errInvalidParam("%s", re.Msg)
	case refusal.BadJSON:
		return errBadJSON("%s", re.Msg)
	case refusal.MissingParam:
		return errMissingParam("%s", re.Msg)
	case refusal.Unknown:
		return errUnknown(http.StatusBadRequest, "%s", re.Msg)
	case refusal.TooLarge:
		return errTooLarge("%s", re.Msg)
	case refusal.LimitExceeded:
		e := errLimitExceeded(re.RetryAfter)
		e.Message = re.Msg
		return e
	case refusal.RoomInUse:
		return newError(http.StatusBadRequest, "M_ROOM_IN_USE", "%s", re.Msg)
	case refusal.UnsupportedRoomVersion:
		return newError(http.StatusBadRequest, "M_UNSUPPORTED_ROOM_VERSION", "%s", re.Msg)
	case refusal.InvalidRoomState:
		return newError(http.StatusBadRequest, "M_INVALID_ROOM_STATE", "%s", re.Msg)
	case refusal.BadAlias:
		return newError(http.StatusBadRequest, "M_BAD_ALIAS", "%s", re.Msg)
	case refusal.ServerManaged:
		return newError(http.StatusMethodNotAllowed, "M_BAD_JSON", "%s", re.Msg)
	case refusal.WrongRoomKeysVersion:
		e := newError(http.StatusForbidden, "M_WRONG_ROOM_KEYS_VERSION", "%s", re.Msg)
		e.Extra = map[string]any{"current_version": re.CurrentVersion}
		return e
	}
	return errForbidden("%s", re.Msg)
}
