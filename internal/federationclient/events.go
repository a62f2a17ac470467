package federationclient

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
)

// Transaction is the answer of /event and /backfill: PDUs of the origin.
type Transaction struct {
	Origin         string            `json:"origin"`
	OriginServerTS int64             `json:"origin_server_ts"`
	PDUs           []json.RawMessage `json:"pdus"`
}

// StateIDs is the answer of /state_ids: the state at an event and its
// auth chain, by event ID.
type StateIDs struct {
	PDUIDs       []string `json:"pdu_ids"`
	AuthChainIDs []string `json:"auth_chain_ids"`
}

// State is the answer of /state: the state at an event and its auth
// chain, whole.
type State struct {
	PDUs      []json.RawMessage `json:"pdus"`
	AuthChain []json.RawMessage `json:"auth_chain"`
}

// MissingEventsRequest is the body of /get_missing_events.
type MissingEventsRequest struct {
	EarliestEvents []string `json:"earliest_events"`
	LatestEvents   []string `json:"latest_events"`
	Limit          int      `json:"limit"`
	MinDepth       int64    `json:"min_depth"`
}

// Event asks destination for one event (GET /event/{eventId}).
func (c *Client) Event(ctx context.Context, destination, eventID string) (Transaction, error) {
	var out Transaction
	err := c.Do(ctx, Request{Method: "GET", Destination: destination,
		Path: "/_matrix/federation/v1/event/" + url.PathEscape(eventID)}, &out)
	return out, err
}

// StateIDs asks destination for the state at eventID in roomID by event
// ID (GET /state_ids/{roomId}).
func (c *Client) StateIDs(ctx context.Context, destination, roomID, eventID string) (StateIDs, error) {
	var out StateIDs
	err := c.Do(ctx, Request{Method: "GET", Destination: destination,
		Path:  "/_matrix/federation/v1/state_ids/" + url.PathEscape(roomID),
		Query: url.Values{"event_id": {eventID}}}, &out)
	return out, err
}

// State asks destination for the state at eventID in roomID, whole
// events (GET /state/{roomId}).
func (c *Client) State(ctx context.Context, destination, roomID, eventID string) (State, error) {
	var out State
	err := c.Do(ctx, Request{Method: "GET", Destination: destination,
		Path:  "/_matrix/federation/v1/state/" + url.PathEscape(roomID),
		Query: url.Values{"event_id": {eventID}}}, &out)
	return out, err
}

// MissingEvents asks destination for the events between what this server
// has and latest (POST /get_missing_events/{roomId}).
func (c *Client) MissingEvents(ctx context.Context, destination, roomID string, req MissingEventsRequest) ([]json.RawMessage, error) {
	var out struct {
		Events []json.RawMessage `json:"events"`
	}
	err := c.Do(ctx, Request{Method: "POST", Destination: destination,
		Path: "/_matrix/federation/v1/get_missing_events/" + url.PathEscape(roomID), Body: req}, &out)
	return out.Events, err
}

// Backfill asks destination for up to limit events of roomID from the
// events from backwards (GET /backfill/{roomId}).
func (c *Client) Backfill(ctx context.Context, destination, roomID string, from []string, limit int) (Transaction, error) {
	var out Transaction
	err := c.Do(ctx, Request{Method: "GET", Destination: destination,
		Path:  "/_matrix/federation/v1/backfill/" + url.PathEscape(roomID),
		Query: url.Values{"v": from, "limit": {strconv.Itoa(limit)}}}, &out)
	return out, err
}

// EventAuth asks destination for the auth chain of eventID in roomID
// (GET /event_auth/{roomId}/{eventId}).
func (c *Client) EventAuth(ctx context.Context, destination, roomID, eventID string) ([]json.RawMessage, error) {
	var out struct {
		AuthChain []json.RawMessage `json:"auth_chain"`
	}
	err := c.Do(ctx, Request{Method: "GET", Destination: destination,
		Path: "/_matrix/federation/v1/event_auth/" + url.PathEscape(roomID) + "/" + url.PathEscape(eventID)}, &out)
	return out.AuthChain, err
}
