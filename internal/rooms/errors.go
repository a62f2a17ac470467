// Package rooms builds, authorises and persists room events: room
// creation, sending, membership, redaction, state, and who may see what
// (history visibility). Protocol rules come from matrixevents; the guest
// rules from internal/guest.
package rooms

import (
	"errors"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// AsError turns auth-rule rejections into refusal.Forbidden errors and passes
// other errors through.
func AsError(err error) error {
	var na *matrixevents.NotAllowedError
	if errors.As(err, &na) {
		return &refusal.Error{Kind: refusal.Forbidden, Msg: na.Message}
	}
	return err
}

// ErrNotFound is returned by stores for missing rows.
var ErrNotFound = errors.New("not found")

// ErrRoomCapReached is returned by Store.Append when an Append's RoomCap
// refuses it.
var ErrRoomCapReached = errors.New("room cap reached")
