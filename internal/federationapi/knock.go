package federationapi

import "net/http"

// makeKnock is GET /_matrix/federation/v1/make_knock/{roomId}/{userId}:
// the room must be of a version with knocking, among the asking server's
// ver parameters, and its join rule must allow the knock.
func (a *API) makeKnock(w http.ResponseWriter, r *http.Request) error {
	return a.makeMembership(w, r, "knock")
}

// sendKnock is PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId},
// answered with the room's state for the knocker (knock_room_state).
func (a *API) sendKnock(w http.ResponseWriter, r *http.Request) error {
	return a.sendMembership(w, r, "knock")
}
