package httpapi

import (
	"errors"
	"net/http"

	"foyer/internal/refusal"
)

// AsMatrixError finds the Matrix error err stands for: an *Error made
// here, or a service's refusal, turned into its status and errcode.
func AsMatrixError(err error) (*Error, bool) {
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
		return ErrNotFound("%s", re.Msg)
	case refusal.GuestForbidden:
		return ErrGuestForbidden("%s", re.Msg)
	case refusal.InvalidParam:
		return ErrInvalidParam("%s", re.Msg)
	case refusal.BadJSON:
		return ErrBadJSON("%s", re.Msg)
	case refusal.MissingParam:
		return ErrMissingParam("%s", re.Msg)
	case refusal.Unknown:
		return ErrUnknown(http.StatusBadRequest, "%s", re.Msg)
	case refusal.TooLarge:
		return ErrTooLarge("%s", re.Msg)
	case refusal.LimitExceeded:
		e := ErrLimitExceeded(re.RetryAfter)
		if re.Msg != "" {
			e.Message = re.Msg
		}
		return e
	case refusal.UserLimitExceeded:
		e := NewError(http.StatusForbidden, "M_USER_LIMIT_EXCEEDED", "%s", re.Msg)
		e.Extra = map[string]any{"info_uri": re.InfoURI, "can_upgrade": re.CanUpgrade}
		return e
	case refusal.RoomInUse:
		return NewError(http.StatusBadRequest, "M_ROOM_IN_USE", "%s", re.Msg)
	case refusal.UnsupportedRoomVersion:
		return NewError(http.StatusBadRequest, "M_UNSUPPORTED_ROOM_VERSION", "%s", re.Msg)
	case refusal.InvalidRoomState:
		return NewError(http.StatusBadRequest, "M_INVALID_ROOM_STATE", "%s", re.Msg)
	case refusal.BadAlias:
		return NewError(http.StatusBadRequest, "M_BAD_ALIAS", "%s", re.Msg)
	case refusal.ServerManaged:
		return NewError(http.StatusMethodNotAllowed, "M_BAD_JSON", "%s", re.Msg)
	case refusal.Remote:
		e := NewError(re.Status, re.Code, "%s", re.Msg)
		if re.RoomVersion != "" {
			e.Extra = map[string]any{"room_version": re.RoomVersion}
		}
		return e
	case refusal.Unreachable:
		return ErrUnknown(http.StatusBadGateway, "%s", re.Msg)
	case refusal.UnableToAuthoriseJoin:
		return NewError(http.StatusBadRequest, "M_UNABLE_TO_AUTHORISE_JOIN", "%s", re.Msg)
	case refusal.UnableToGrantJoin:
		return NewError(http.StatusBadRequest, "M_UNABLE_TO_GRANT_JOIN", "%s", re.Msg)
	case refusal.CannotLeaveServerNoticeRoom:
		return NewError(http.StatusForbidden, "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM", "%s", re.Msg)
	case refusal.WrongRoomKeysVersion:
		e := NewError(http.StatusForbidden, "M_WRONG_ROOM_KEYS_VERSION", "%s", re.Msg)
		e.Extra = map[string]any{"current_version": re.CurrentVersion}
		return e
	}
	return ErrForbidden("%s", re.Msg)
}
