package federationapi

import (
	"context"
	"encoding/json"

	"foyer/internal/e2ee"
)

// receiveDeviceListUpdate acts on m.device_list_update: one device of
// one of the origin's users changed.
func (a *API) receiveDeviceListUpdate(ctx context.Context, origin string, content json.RawMessage) error {
	if a.E2EE == nil {
		return errSkipped
	}
	var c struct {
		UserID      string          `json:"user_id"`
		DeviceID    string          `json:"device_id"`
		DisplayName string          `json:"device_display_name"`
		StreamID    int64           `json:"stream_id"`
		PrevID      []int64         `json:"prev_id"`
		Deleted     bool            `json:"deleted"`
		Keys        json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	if !ofOrigin(c.UserID, origin) {
		return errSkipped
	}
	return a.E2EE.ReceiveDeviceListUpdate(ctx, e2ee.RemoteDeviceUpdate{UserID: c.UserID, DeviceID: c.DeviceID,
		DisplayName: c.DisplayName, StreamID: c.StreamID, PrevIDs: c.PrevID, Deleted: c.Deleted, Keys: c.Keys})
}

// receiveSigningKeyUpdate acts on m.signing_key_update: one of the
// origin's users has new cross-signing keys.
func (a *API) receiveSigningKeyUpdate(ctx context.Context, origin string, content json.RawMessage) error {
	if a.E2EE == nil {
		return errSkipped
	}
	var c struct {
		UserID         string          `json:"user_id"`
		MasterKey      json.RawMessage `json:"master_key"`
		SelfSigningKey json.RawMessage `json:"self_signing_key"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	if !ofOrigin(c.UserID, origin) {
		return errSkipped
	}
	return a.E2EE.ReceiveSigningKeyUpdate(ctx, c.UserID, c.MasterKey, c.SelfSigningKey)
}
