package federationclient

import (
	"context"
	"encoding/json"
	"net/url"
)

// UserDevice is one entry of a /user/devices answer.
type UserDevice struct {
	DeviceID    string          `json:"device_id"`
	DisplayName string          `json:"device_display_name,omitempty"`
	Keys        json.RawMessage `json:"keys"`
}

// UserDevices is the answer of GET /_matrix/federation/v1/user/devices/{userId}.
type UserDevices struct {
	UserID         string          `json:"user_id"`
	StreamID       int64           `json:"stream_id"`
	Devices        []UserDevice    `json:"devices"`
	MasterKey      json.RawMessage `json:"master_key,omitempty"`
	SelfSigningKey json.RawMessage `json:"self_signing_key,omitempty"`
}

// KeysQuery is the answer of POST /_matrix/federation/v1/user/keys/query.
type KeysQuery struct {
	DeviceKeys      map[string]map[string]json.RawMessage `json:"device_keys"`
	MasterKeys      map[string]json.RawMessage            `json:"master_keys,omitempty"`
	SelfSigningKeys map[string]json.RawMessage            `json:"self_signing_keys,omitempty"`
}

// KeysClaim is the answer of POST /_matrix/federation/v1/user/keys/claim:
// user, device, "algorithm:key_id", key.
type KeysClaim struct {
	OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
}

// UserDevices asks userID's server for the user's devices and
// cross-signing keys.
func (c *Client) UserDevices(ctx context.Context, server, userID string) (UserDevices, error) {
	var out UserDevices
	err := c.Do(ctx, Request{Method: "GET", Destination: server,
		Path: "/_matrix/federation/v1/user/devices/" + url.PathEscape(userID)}, &out)
	return out, err
}

// QueryKeys asks server for the device keys of its users (device IDs
// narrow a user's devices; none means all).
func (c *Client) QueryKeys(ctx context.Context, server string, deviceKeys map[string][]string) (KeysQuery, error) {
	var out KeysQuery
	err := c.Do(ctx, Request{Method: "POST", Destination: server, Path: "/_matrix/federation/v1/user/keys/query",
		Body: map[string]any{"device_keys": deviceKeys}}, &out)
	return out, err
}

// ClaimKeys claims one-time keys (or fallback keys) of server's users'
// devices: user, device, algorithm.
func (c *Client) ClaimKeys(ctx context.Context, server string, oneTimeKeys map[string]map[string]string) (KeysClaim, error) {
	var out KeysClaim
	err := c.Do(ctx, Request{Method: "POST", Destination: server, Path: "/_matrix/federation/v1/user/keys/claim",
		Body: map[string]any{"one_time_keys": oneTimeKeys}}, &out)
	return out, err
}
