package federationapi

import (
	"encoding/json"
	"net/http"
	"slices"

	"foyer/internal/httpapi"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// maxEventBytes is the most an event may have.
const maxEventBytes = 65536

// makeJoin is GET /_matrix/federation/v1/make_join/{roomId}/{userId}.
func (a *API) makeJoin(w http.ResponseWriter, r *http.Request) error {
	return a.makeMembership(w, r, "join")
}

// makeLeave is GET /_matrix/federation/v1/make_leave/{roomId}/{userId}.
func (a *API) makeLeave(w http.ResponseWriter, r *http.Request) error {
	return a.makeMembership(w, r, "leave")
}

// makeMembership answers a remote server asking for the membership event
// its user needs to sign: the user must be of the asking server, the
// room must be known here and have a local member, of a version the server supports (make_join's
// ver parameters; none means version 1), and the auth rules must allow
// the membership against the room's current state.
func (a *API) makeMembership(w http.ResponseWriter, r *http.Request, membership string) error {
	ctx := r.Context()
	origin := Origin(ctx)
	roomID, userID := r.PathValue("roomId"), r.PathValue("userId")
	_, server, ok := matrixevents.SplitUserID(userID)
	if !ok {
		return httpapi.ErrBadJSON("%q is not a user ID", userID)
	}
	if server != origin {
		return httpapi.ErrForbidden("user %s is not of %s, the server asking", userID, origin)
	}
	room, err := a.Rooms.InboundCheck(ctx, roomID, origin)
	if err != nil {
		return err
	}
	if err := admits(room, origin, roomID); err != nil {
		return err
	}
	if membership == "join" || membership == "knock" {
		vers := r.URL.Query()["ver"]
		if len(vers) == 0 {
			vers = []string{"1"}
		}
		if !slices.Contains(vers, room.Version) {
			e := httpapi.NewError(http.StatusBadRequest, "M_INCOMPATIBLE_ROOM_VERSION",
				"room %s is version %s, which %s does not support", roomID, room.Version, origin)
			e.Extra = map[string]any{"room_version": room.Version}
			return e
		}
	}
	if membership == "knock" && !matrixevents.SupportsKnocking(room.Version) {
		e := httpapi.NewError(http.StatusBadRequest, "M_INCOMPATIBLE_ROOM_VERSION",
			"room %s is version %s, which has no knocking", roomID, room.Version)
		e.Extra = map[string]any{"room_version": room.Version}
		return e
	}
	template, version, err := a.Rooms.MembershipTemplate(ctx, roomID, userID, membership)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"event": template, "room_version": version})
	return nil
}

// sendJoin is PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}.
func (a *API) sendJoin(w http.ResponseWriter, r *http.Request) error {
	return a.sendMembership(w, r, "join")
}

// sendLeave is PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}.
func (a *API) sendLeave(w http.ResponseWriter, r *http.Request) error {
	return a.sendMembership(w, r, "leave")
}

// sendMembership takes a membership event a remote server signed from a
// make_join or make_leave template: the membership of a user of that
// server, for this room and event ID, signed by it, that the room accepts
// (403 when it rejects or soft-fails it). A join is answered with the
// state before it and that state's auth chain, and the join itself, with
// this server's signature when it authorised a restricted join.
func (a *API) sendMembership(w http.ResponseWriter, r *http.Request, membership string) error {
	ctx := r.Context()
	origin := Origin(ctx)
	roomID, eventID := r.PathValue("roomId"), r.PathValue("eventId")
	room, err := a.Rooms.InboundCheck(ctx, roomID, origin)
	if err != nil {
		return err
	}
	if err := admits(room, origin, roomID); err != nil {
		return err
	}
	body, err := httpapi.ReadBody(r)
	if err != nil {
		return err
	}
	ev, err := matrixevents.ParseUntrusted(room.Version, body)
	if err != nil {
		return httpapi.ErrBadJSON("invalid event: %v", err)
	}
	if ev.EventID() != eventID || ev.RoomID() != roomID {
		return httpapi.ErrBadJSON("the event is %s in %s, not %s in %s", ev.EventID(), ev.RoomID(), eventID, roomID)
	}
	_, server, _ := matrixevents.SplitUserID(ev.Sender())
	if ev.Type() != matrixevents.TypeMember || ev.StateKey() == nil || *ev.StateKey() != ev.Sender() || ev.Membership() != membership {
		return httpapi.ErrBadJSON("the event is not a %s of its sender", membership)
	}
	if server != origin {
		return httpapi.ErrForbidden("user %s is not of %s, the server sending", ev.Sender(), origin)
	}
	if membership == "join" {
		// A restricted join this server vouches for is signed here first:
		// the checks below need that signature too.
		if ev, err = a.Rooms.AuthoriseRestrictedJoin(ctx, ev); err != nil {
			return err
		}
	}
	if err := matrixevents.VerifyEventSignatures(ctx, ev, a.Keys.EventKey); err != nil {
		return httpapi.ErrForbidden("the event's signatures do not check: %v", err)
	}
	got, err := a.Rooms.ReceiveAsResident(ctx, ev)
	if err != nil {
		return err
	}
	if got.Rejected || got.SoftFailed {
		return httpapi.ErrForbidden("the room's authorisation rules do not allow this %s", membership)
	}
	if membership == "knock" {
		state, err := a.Rooms.KnockRoomState(ctx, roomID, ev.Sender())
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"knock_room_state": state})
		return nil
	}
	if membership != "join" {
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{})
		return nil
	}
	at, err := a.Rooms.StateBefore(ctx, ev.EventID())
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"state":           eventsJSON(at.State),
		"auth_chain":      eventsJSON(at.AuthChain),
		"event":           json.RawMessage(ev.JSON()),
		"origin":          a.Keys.ServerName(),
		"members_omitted": false,
		"servers_in_room": serversWith(at, a.Keys.ServerName(), origin),
	})
	return nil
}

func eventsJSON(events []matrixevents.Event) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(events))
	for _, ev := range events {
		out = append(out, ev.JSON())
	}
	return out
}

// serversWith is the servers in the room before the join, with this one
// and the joining one.
func serversWith(at rooms.StateAtEvent, servers ...string) []string {
	out := slices.Clone(at.Servers)
	for _, s := range servers {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// admits checks that this server is in the room (404 otherwise: it
// cannot vouch for its state) and that the room's server ACL admits
// origin.
func admits(room rooms.InboundRoom, origin, roomID string) error {
	if !room.Participating {
		return httpapi.ErrNotFound("this server is not in room %s", roomID)
	}
	if !room.OriginAllowed {
		return httpapi.ErrForbidden("%s is denied by the server ACL of room %s", origin, roomID)
	}
	return nil
}
