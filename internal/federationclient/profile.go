package federationclient

import (
	"context"
	"net/url"
)

// Profile is a user's public profile as /query/profile answers it.
type Profile struct {
	DisplayName string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// QueryProfile asks userID's server for the user's whole profile
// (GET /_matrix/federation/v1/query/profile).
func (c *Client) QueryProfile(ctx context.Context, destination, userID string) (Profile, error) {
	var p Profile
	err := c.Do(ctx, Request{
		Method: "GET", Destination: destination, Path: "/_matrix/federation/v1/query/profile",
		Query: url.Values{"user_id": {userID}},
	}, &p)
	return p, err
}
