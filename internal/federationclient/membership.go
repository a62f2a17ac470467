package federationclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
)

// MakeMembershipAnswer is a make_join or make_leave answer: the event to
// sign and the room's version ("" when the server did not say, which
// the spec reads as version 1).
type MakeMembershipAnswer struct {
	Event       json.RawMessage `json:"event"`
	RoomVersion string          `json:"room_version"`
}

// SendJoinAnswer is a send_join (v2) answer: the room's state before the
// join and its auth chain, the join as the resident server stored it
// (when it added to it), and the servers in the room.
type SendJoinAnswer struct {
	Origin         string            `json:"origin"`
	State          []json.RawMessage `json:"state"`
	AuthChain      []json.RawMessage `json:"auth_chain"`
	Event          json.RawMessage   `json:"event,omitempty"`
	MembersOmitted bool              `json:"members_omitted"`
	ServersInRoom  []string          `json:"servers_in_room"`
}

// MakeJoin asks destination for the join event of userID in roomID,
// offering the room versions this server supports.
func (c *Client) MakeJoin(ctx context.Context, destination, roomID, userID string, versions []string) (MakeMembershipAnswer, error) {
	var out MakeMembershipAnswer
	err := c.Do(ctx, Request{Method: "GET", Destination: destination,
		Path:  "/_matrix/federation/v1/make_join/" + url.PathEscape(roomID) + "/" + url.PathEscape(userID),
		Query: url.Values{"ver": versions}}, &out)
	return out, err
}

// SendJoin sends a signed join event to destination.
func (c *Client) SendJoin(ctx context.Context, destination, roomID, eventID string, event json.RawMessage) (SendJoinAnswer, error) {
	var out SendJoinAnswer
	path := "/send_join/" + url.PathEscape(roomID) + "/" + url.PathEscape(eventID)
	err := c.Do(ctx, Request{Method: "PUT", Destination: destination, Path: "/_matrix/federation/v2" + path, Body: event}, &out)
	if unknownEndpoint(err) {
		err = c.doV1(ctx, Request{Method: "PUT", Destination: destination, Path: "/_matrix/federation/v1" + path, Body: event}, &out)
	}
	return out, err
}

// doV1 is Do for the v1 membership endpoints of servers without the v2
// ones, whose answer is [200, answer].
func (c *Client) doV1(ctx context.Context, r Request, out any) error {
	var pair []json.RawMessage
	if err := c.Do(ctx, r, &pair); err != nil {
		return err
	}
	if len(pair) != 2 {
		return fmt.Errorf("%s's v1 answer is not [status, answer]", r.Destination)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(pair[1], out); err != nil {
		return fmt.Errorf("%s's v1 answer is not the expected JSON: %w", r.Destination, err)
	}
	return nil
}

// MakeLeave asks destination for the leave event of userID in roomID.
func (c *Client) MakeLeave(ctx context.Context, destination, roomID, userID string) (MakeMembershipAnswer, error) {
	var out MakeMembershipAnswer
	err := c.Do(ctx, Request{Method: "GET", Destination: destination,
		Path: "/_matrix/federation/v1/make_leave/" + url.PathEscape(roomID) + "/" + url.PathEscape(userID)}, &out)
	return out, err
}

// SendLeave sends a signed leave event to destination.
func (c *Client) SendLeave(ctx context.Context, destination, roomID, eventID string, event json.RawMessage) error {
	path := "/send_leave/" + url.PathEscape(roomID) + "/" + url.PathEscape(eventID)
	err := c.Do(ctx, Request{Method: "PUT", Destination: destination, Path: "/_matrix/federation/v2" + path, Body: event}, nil)
	if unknownEndpoint(err) {
		err = c.doV1(ctx, Request{Method: "PUT", Destination: destination, Path: "/_matrix/federation/v1" + path, Body: event}, nil)
	}
	return err
}

// DirectoryAnswer is a /query/directory answer: the room an alias names
// and servers that can be asked to join it.
type DirectoryAnswer struct {
	RoomID  string   `json:"room_id"`
	Servers []string `json:"servers"`
}

// QueryDirectory asks destination, the server of alias, which room it
// names.
func (c *Client) QueryDirectory(ctx context.Context, destination, alias string) (DirectoryAnswer, error) {
	var out DirectoryAnswer
	err := c.Do(ctx, Request{Method: "GET", Destination: destination,
		Path: "/_matrix/federation/v1/query/directory", Query: url.Values{"room_alias": {alias}}}, &out)
	return out, err
}
