package federationclient

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
)

// PublicRoomsFilter is the body of POST /publicRooms, and, without a
// search term or room types, the query of GET.
type PublicRoomsFilter struct {
	Limit                int                `json:"limit,omitempty"`
	Since                string             `json:"since,omitempty"`
	Filter               *PublicRoomsSearch `json:"filter,omitempty"`
	IncludeAllNetworks   bool               `json:"include_all_networks,omitempty"`
	ThirdPartyInstanceID string             `json:"third_party_instance_id,omitempty"`
}

// PublicRoomsSearch is the filter of POST /publicRooms.
type PublicRoomsSearch struct {
	GenericSearchTerm string    `json:"generic_search_term,omitempty"`
	RoomTypes         []*string `json:"room_types,omitempty"`
}

// PublicRooms asks destination for a page of its published room
// directory. The answer is passed on as the remote server gave it (the
// spec's PublicRoomsResponse), after checking it is a JSON object. A
// filter with a search term or room types is POSTed; otherwise the
// simpler GET, which every server answers, is used.
func (c *Client) PublicRooms(ctx context.Context, destination string, f PublicRoomsFilter) (map[string]json.RawMessage, error) {
	const path = "/_matrix/federation/v1/publicRooms"
	var out map[string]json.RawMessage
	if f.Filter != nil && (f.Filter.GenericSearchTerm != "" || len(f.Filter.RoomTypes) > 0) {
		err := c.Do(ctx, Request{Method: "POST", Destination: destination, Path: path, Body: f}, &out)
		return out, err
	}
	q := url.Values{}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Since != "" {
		q.Set("since", f.Since)
	}
	if f.IncludeAllNetworks {
		q.Set("include_all_networks", "true")
	}
	if f.ThirdPartyInstanceID != "" {
		q.Set("third_party_instance_id", f.ThirdPartyInstanceID)
	}
	err := c.Do(ctx, Request{Method: "GET", Destination: destination, Path: path, Query: q}, &out)
	return out, err
}

// SpaceHierarchy is the answer of GET /_matrix/federation/v1/hierarchy:
// the room with its m.space.child events, its children's summaries, and
// the children the asking server cannot reach.
type SpaceHierarchy struct {
	Room                 json.RawMessage   `json:"room"`
	Children             []json.RawMessage `json:"children"`
	InaccessibleChildren []string          `json:"inaccessible_children"`
}

// Hierarchy asks destination for roomID's place in a space tree.
func (c *Client) Hierarchy(ctx context.Context, destination, roomID string, suggestedOnly bool) (SpaceHierarchy, error) {
	var out SpaceHierarchy
	err := c.Do(ctx, Request{
		Method: "GET", Destination: destination,
		Path:  "/_matrix/federation/v1/hierarchy/" + url.PathEscape(roomID),
		Query: url.Values{"suggested_only": {strconv.FormatBool(suggestedOnly)}},
	}, &out)
	return out, err
}
