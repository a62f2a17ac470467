package federationapi

import (
	"encoding/json"
	"net/http"

	"foyer/internal/httpapi"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// maxInviteBytes bounds an invite request: the event and the room state
// that comes with it.
const maxInviteBytes = 256 << 10

// inviteV2 is PUT /_matrix/federation/v2/invite/{roomId}/{eventId}:
// {room_version, event, invite_room_state}, answered {"event": ...} with
// this server's signature added.
func (a *API) inviteV2(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		RoomVersion *string           `json:"room_version"`
		Event       json.RawMessage   `json:"event"`
		State       []json.RawMessage `json:"invite_room_state"`
	}
	if err := httpapi.ReadJSON(r, &body); err != nil {
		return err
	}
	if body.RoomVersion == nil || len(body.Event) == 0 {
		return httpapi.ErrMissingParam("room_version and event are required")
	}
	signed, err := a.receiveInvite(r, *body.RoomVersion, body.Event, body.State)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"event": json.RawMessage(signed.JSON())})
	return nil
}

// inviteV1 is PUT /_matrix/federation/v1/invite/{roomId}/{eventId}, for
// older servers: the body is the event, with invite_room_state in its
// unsigned; the room is version 1 or 2, which share an event format, so
// it is read as version 1. The answer is [200, {"event": ...}].
func (a *API) inviteV1(w http.ResponseWriter, r *http.Request) error {
	raw, err := httpapi.ReadBody(r)
	if err != nil {
		return err
	}
	var body struct {
		Unsigned struct {
			State []json.RawMessage `json:"invite_room_state"`
		} `json:"unsigned"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return httpapi.ErrBadJSON("the body is not an event: %v", err)
	}
	signed, err := a.receiveInvite(r, "1", raw, body.Unsigned.State)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, []any{200, map[string]any{"event": json.RawMessage(signed.JSON())}})
	return nil
}

// receiveInvite checks the parts of an invite that belong to the
// request (room version, IDs) and hands it to the room service, which
// checks, signs and keeps it.
func (a *API) receiveInvite(r *http.Request, roomVersion string, raw json.RawMessage, state []json.RawMessage) (matrixevents.Event, error) {
	roomID, eventID := r.PathValue("roomId"), r.PathValue("eventId")
	if !matrixevents.IsSupported(roomVersion) {
		e := httpapi.NewError(http.StatusBadRequest, "M_INCOMPATIBLE_ROOM_VERSION",
			"room version %q is not supported by this server", roomVersion)
		e.Extra = map[string]any{"room_version": roomVersion}
		return matrixevents.Event{}, e
	}
	ev, err := matrixevents.ParseUntrusted(roomVersion, raw)
	if err != nil {
		return matrixevents.Event{}, httpapi.ErrBadJSON("invalid event: %v", err)
	}
	if ev.EventID() != eventID || ev.RoomID() != roomID {
		return matrixevents.Event{}, httpapi.ErrInvalidParam("the event is %s in %s, not %s in %s", ev.EventID(), ev.RoomID(), eventID, roomID)
	}
	return a.Rooms.ReceiveInvite(r.Context(), rooms.InboundInvite{Origin: Origin(r.Context()), Event: ev, State: state})
}
