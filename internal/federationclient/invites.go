package federationclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Invite asks destination, the invitee's server, to sign an invite (PUT
// /_matrix/federation/v2/invite), giving it state: full events of the
// room for the invitee to see. It returns the event with destination's
// signature. A server that answers the v2 route 400 or 404 for a room of
// version 1 or 2 is asked again through v1, as the spec says.
func (c *Client) Invite(ctx context.Context, destination, roomID, eventID, roomVersion string, event json.RawMessage, state []json.RawMessage) (json.RawMessage, error) {
	if state == nil {
		state = []json.RawMessage{}
	}
	path := "/" + url.PathEscape(roomID) + "/" + url.PathEscape(eventID)
	var out struct {
		Event json.RawMessage `json:"event"`
	}
	err := c.Do(ctx, Request{Method: http.MethodPut, Destination: destination, Path: "/_matrix/federation/v2/invite" + path,
		Body: map[string]any{"room_version": roomVersion, "event": event, "invite_room_state": state}}, &out)
	if re, ok := RemoteError(err); ok && (re.Status == http.StatusBadRequest || re.Status == http.StatusNotFound) &&
		re.Code != "M_INCOMPATIBLE_ROOM_VERSION" && (roomVersion == "1" || roomVersion == "2") {
		return c.inviteV1(ctx, destination, path, event, state)
	}
	if err != nil {
		return nil, err
	}
	if len(out.Event) == 0 {
		return nil, fmt.Errorf("%s's invite answer has no event", destination)
	}
	return out.Event, nil
}

// inviteV1 is PUT /_matrix/federation/v1/invite: the event itself, with
// the state in its unsigned, answered [200, {"event": ...}].
func (c *Client) inviteV1(ctx context.Context, destination, path string, event json.RawMessage, state []json.RawMessage) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(event, &fields); err != nil {
		return nil, err
	}
	unsigned := map[string]json.RawMessage{}
	if raw, ok := fields["unsigned"]; ok {
		_ = json.Unmarshal(raw, &unsigned)
	}
	rawState, err := json.Marshal(state)
	if err != nil {
		return nil, err
	}
	unsigned["invite_room_state"] = rawState
	if fields["unsigned"], err = json.Marshal(unsigned); err != nil {
		return nil, err
	}
	var out []json.RawMessage
	if err := c.Do(ctx, Request{Method: http.MethodPut, Destination: destination, Path: "/_matrix/federation/v1/invite" + path, Body: fields}, &out); err != nil {
		return nil, err
	}
	var answer struct {
		Event json.RawMessage `json:"event"`
	}
	if len(out) != 2 || json.Unmarshal(out[1], &answer) != nil || len(answer.Event) == 0 {
		return nil, fmt.Errorf("%s's v1 invite answer is not [200, {\"event\": ...}]", destination)
	}
	return answer.Event, nil
}

// MakeMembership asks destination for the template of userID's
// membership in roomID (GET make_leave or make_knock, v1); versions are
// the room versions this server supports (make_knock's ver). It returns
// the template and the room's version.
func (c *Client) MakeMembership(ctx context.Context, destination, membership, roomID, userID string, versions []string) (json.RawMessage, string, error) {
	var q url.Values
	if len(versions) > 0 {
		q = url.Values{"ver": versions}
	}
	var out struct {
		Event       json.RawMessage `json:"event"`
		RoomVersion string          `json:"room_version"`
	}
	err := c.Do(ctx, Request{Method: http.MethodGet, Destination: destination,
		Path:  "/_matrix/federation/v1/make_" + membership + "/" + url.PathEscape(roomID) + "/" + url.PathEscape(userID),
		Query: q}, &out)
	if err != nil {
		return nil, "", err
	}
	if len(out.Event) == 0 {
		return nil, "", fmt.Errorf("%s's make_%s answer has no event", destination, membership)
	}
	if out.RoomVersion == "" {
		// make_leave's answer may omit it: then the room is version 1.
		out.RoomVersion = "1"
	}
	return out.Event, out.RoomVersion, nil
}

// SendMembership gives destination a signed membership event: PUT
// send_leave (v2) or send_knock (v1). It returns the answer's JSON.
func (c *Client) SendMembership(ctx context.Context, destination, membership, roomID, eventID string, event json.RawMessage) (json.RawMessage, error) {
	version := "v2"
	if membership == "knock" {
		version = "v1"
	}
	var out json.RawMessage
	err := c.Do(ctx, Request{Method: http.MethodPut, Destination: destination,
		Path: "/_matrix/federation/" + version + "/send_" + membership + "/" + url.PathEscape(roomID) + "/" + url.PathEscape(eventID),
		Body: event}, &out)
	return out, err
}
