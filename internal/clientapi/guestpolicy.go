package clientapi

import (
	"encoding/json"
	"net/http"

	"foyer/internal/httpapi"
)

// Guest policy applied by handlers to guest principals only: send
// throttles and the join policy (public rooms, room cap). Each is a no-op
// for everyone else. The configurable extensions (G-14) are gated for
// every surface by the middleware (httpapi/guestgate.go).

// throttleGuestSend applies the per-guest event or state-event rate.
func (a *API) throttleGuestSend(r *http.Request, state bool) error {
	p := httpapi.Principal(r)
	if !httpapi.IsGuest(p) {
		return nil
	}
	if err := a.Guests.AllowSend(p.UserID, state); err != nil {
		return httpapi.GuestError(err)
	}
	return nil
}

// throttleGuestToDevice applies the per-guest to-device rate.
func (a *API) throttleGuestToDevice(r *http.Request) error {
	p := httpapi.Principal(r)
	if !httpapi.IsGuest(p) {
		return nil
	}
	if err := a.Guests.AllowToDevice(p.UserID); err != nil {
		return httpapi.GuestError(err)
	}
	return nil
}

// throttleGuestWrite applies the per-guest rate of stored writes that
// guests may make: filter and key uploads. (Account data and tags are
// not open to guests; their read markers replace one entry per room.)
func (a *API) throttleGuestWrite(r *http.Request) error {
	p := httpapi.Principal(r)
	if !httpapi.IsGuest(p) {
		return nil
	}
	if err := a.Guests.AllowWrite(p.UserID); err != nil {
		return httpapi.GuestError(err)
	}
	return nil
}

// guestJoinPolicy applies guest_access.forbid_public_rooms and
// guest_access.max_rooms to a guest joining roomID by itself.
func (a *API) guestJoinPolicy(r *http.Request, roomID string) error {
	p := httpapi.Principal(r)
	if !httpapi.IsGuest(p) {
		return nil
	}
	if err := a.Guests.CheckJoin(r.Context(), p.UserID, roomID); err != nil {
		return httpapi.GuestError(err)
	}
	return nil
}

// guestStateJoinPolicy is guestJoinPolicy for a guest putting its own
// m.room.member with membership join through the state endpoint.
func (a *API) guestStateJoinPolicy(r *http.Request, roomID, eventType, stateKey string, content json.RawMessage) error {
	p := httpapi.Principal(r)
	if !httpapi.IsGuest(p) || eventType != "m.room.member" || stateKey != p.UserID {
		return nil
	}
	var c struct {
		Membership string `json:"membership"`
	}
	if json.Unmarshal(content, &c) != nil || c.Membership != "join" {
		return nil
	}
	return a.guestJoinPolicy(r, roomID)
}
