package clientapi

import (
	"errors"
	"net/http"
	"time"

	"foyer/internal/httpapi"
	"foyer/internal/typing"
)

type typingRequest struct {
	Typing  *bool  `json:"typing"`
	Timeout *int64 `json:"timeout"`
}

// setTyping is PUT /rooms/{roomId}/typing/{userId}: only for oneself, in
// a room one is joined to. The timeout is capped (typing.MaxTimeout).
func (a *API) setTyping(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	userID := httpapi.Principal(r).UserID
	var req typingRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Typing == nil {
		return httpapi.ErrMissingParam("typing is required")
	}
	var timeout time.Duration
	if req.Timeout != nil {
		if *req.Timeout < 0 {
			return httpapi.ErrInvalidParam("timeout must not be negative")
		}
		timeout = time.Duration(min(*req.Timeout, int64(typing.MaxTimeout/time.Millisecond))) * time.Millisecond
	}
	if err := a.Typing.SetTyping(r.Context(), roomID, userID, *req.Typing, timeout); err != nil {
		if errors.Is(err, typing.ErrNotJoined) {
			return httpapi.ErrForbidden("you are not joined to room %s", roomID)
		}
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}
