package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"foyer/internal/httpapi"
	"foyer/internal/refusal"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

type membershipRequest struct {
	UserID string `json:"user_id"`
	Reason string `json:"reason"`
	// Medium and Address are an invite's third-party form, refused.
	Medium  string `json:"medium"`
	Address string `json:"address"`
}

// resolveRoom turns a room ID or a local alias into a room ID.
func (a *API) resolveRoom(r *http.Request, idOrAlias string) (string, error) {
	switch {
	case strings.HasPrefix(idOrAlias, "!"):
		if !matrixevents.ValidRoomID(idOrAlias) {
			return "", httpapi.ErrInvalidParam("%q is not a room ID", idOrAlias)
		}
		return idOrAlias, nil
	case strings.HasPrefix(idOrAlias, "#"):
		roomID, err := a.Rooms.ResolveAlias(r.Context(), idOrAlias)
		if err != nil {
			return "", err
		}
		return roomID, nil
	}
	return "", httpapi.ErrInvalidParam("%q is neither a room ID nor an alias", idOrAlias)
}

func (a *API) joinRoomIDOrAlias(w http.ResponseWriter, r *http.Request) error {
	idOrAlias := r.PathValue("roomIdOrAlias")
	if !strings.HasPrefix(idOrAlias, "#") {
		roomID, err := a.resolveRoom(r, idOrAlias)
		if err != nil {
			return err
		}
		return a.doJoin(w, r, roomID, nil)
	}
	roomID, servers, err := a.Rooms.LookupAlias(r.Context(), idOrAlias)
	if err != nil {
		return err
	}
	return a.doJoin(w, r, roomID, servers)
}

func (a *API) joinRoom(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	return a.doJoin(w, r, roomID, nil)
}

// viaServers are the servers a join request names to join through: via
// (the spec's name) and server_name (the older one), in that order.
func viaServers(r *http.Request) ([]string, error) {
	q := r.URL.Query()
	names := append(q["via"], q["server_name"]...)
	for _, name := range names {
		if !matrixevents.ValidServerName(name) {
			return nil, httpapi.ErrInvalidParam("%q is not a server name", name)
		}
	}
	return names, nil
}

// doJoin joins the caller to roomID; aliasServers are those the lookup of
// the alias it was named by gave. A room this server is not in is joined
// through another server (rooms.Service.JoinVia).
func (a *API) doJoin(w http.ResponseWriter, r *http.Request, roomID string, aliasServers []string) error {
	via, err := viaServers(r)
	if err != nil {
		return err
	}
	// The whole body is the caller's content for its member event, as in
	// Synapse: reason and any custom keys go into the event.
	var body map[string]json.RawMessage
	if err := httpapi.ReadOptionalJSON(r, &body); err != nil {
		return err
	}
	if raw, ok := body["reason"]; ok {
		var reason string
		if err := json.Unmarshal(raw, &reason); err != nil {
			return httpapi.ErrBadJSON("reason must be of type string")
		}
	}
	if err := a.guestJoinPolicy(r, roomID); err != nil {
		return err
	}
	// A join through other servers may take up to RemoteJoinTimeout, and
	// still needs the usual time to be answered.
	httpapi.AllowLongPoll(w, a.Config.HTTP, rooms.RemoteJoinTimeout)
	if err := a.Rooms.JoinVia(r.Context(), roomID, httpapi.Principal(r).UserID, body, rooms.JoinHints{Via: via, Alias: aliasServers}); err != nil {
		return err
	}
	a.carryToReplacement(r.Context(), httpapi.Principal(r).UserID, roomID)
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"room_id": roomID})
	return nil
}

func (a *API) knockRoom(w http.ResponseWriter, r *http.Request) error {
	roomID, err := a.resolveRoom(r, r.PathValue("roomIdOrAlias"))
	if err != nil {
		return err
	}
	var req membershipRequest
	if err := httpapi.ReadOptionalJSON(r, &req); err != nil {
		return err
	}
	// via, and server_name which older clients send, name the servers to
	// knock through on a room this server is not in.
	q := r.URL.Query()
	via := append(q["via"], q["server_name"]...)
	if err := a.Rooms.KnockThrough(r.Context(), roomID, httpapi.Principal(r).UserID, req.Reason, via); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"room_id": roomID})
	return nil
}

func (a *API) leaveRoom(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	var req membershipRequest
	if err := httpapi.ReadOptionalJSON(r, &req); err != nil {
		return err
	}
	if err := a.Rooms.CheckNoticeInviteRejection(r.Context(), roomID, httpapi.Principal(r).UserID); err != nil {
		return err
	}
	if err := a.Rooms.Leave(r.Context(), roomID, httpapi.Principal(r).UserID, req.Reason); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) forgetRoom(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	if err := a.Rooms.Forget(r.Context(), roomID, httpapi.Principal(r).UserID); err != nil {
		var re *refusal.Error
		if errors.As(err, &re) && re.Kind == refusal.InvalidParam {
			return httpapi.NewError(http.StatusBadRequest, "M_UNKNOWN", "%s", re.Msg)
		}
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

// targetedMembership handles invite, kick, ban and unban: do is the room
// service's method for the change.
func (a *API) targetedMembership(do func(ctx context.Context, roomID, sender, target, reason string) error) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		roomID, err := roomIDParam(r)
		if err != nil {
			return err
		}
		var req membershipRequest
		if err := httpapi.ReadJSON(r, &req); err != nil {
			return err
		}
		if req.UserID == "" && (req.Medium != "" || req.Address != "") {
			return errNoThreepidInvite()
		}
		if req.UserID == "" {
			return httpapi.ErrMissingParam("user_id is required")
		}
		if !matrixevents.ValidUserID(req.UserID) {
			return httpapi.ErrInvalidParam("%q is not a user ID", req.UserID)
		}
		// A bridged user invited before its bridge made it: the bridge
		// is asked to make it first.
		a.askAppServiceForUser(r, req.UserID)
		if err := do(r.Context(), roomID, httpapi.Principal(r).UserID, req.UserID, req.Reason); err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, struct{}{})
		return nil
	}
}

func (a *API) joinedRooms(w http.ResponseWriter, r *http.Request) error {
	ids, err := a.Rooms.JoinedRooms(r.Context(), httpapi.Principal(r).UserID)
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"joined_rooms": ids})
	return nil
}
