package e2ee

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"foyer/internal/federationclient"
	"foyer/internal/refusal"
)

// deviceListUpdateEDU is the content of m.device_list_update.
type deviceListUpdateEDU struct {
	UserID      string          `json:"user_id"`
	DeviceID    string          `json:"device_id"`
	DisplayName string          `json:"device_display_name,omitempty"`
	StreamID    int64           `json:"stream_id"`
	PrevID      []int64         `json:"prev_id"`
	Deleted     bool            `json:"deleted,omitempty"`
	Keys        json.RawMessage `json:"keys,omitempty"`
}

// signingKeyUpdateEDU is the content of m.signing_key_update.
type signingKeyUpdateEDU struct {
	UserID         string          `json:"user_id"`
	MasterKey      json.RawMessage `json:"master_key,omitempty"`
	SelfSigningKey json.RawMessage `json:"self_signing_key,omitempty"`
}

func eduJSON(typ string, content any) (json.RawMessage, error) {
	return json.Marshal(map[string]any{"edu_type": typ, "content": content})
}

// LocalDeviceList is what other servers see of a local user's devices
// (GET /_matrix/federation/v1/user/devices): the devices with keys, with
// their display names and self-made signatures, the master and
// self-signing keys, and the stream_id of the last m.device_list_update
// sent for the user. The stream_id is read first, so a change made
// meanwhile arrives as an update that follows it.
func (s *Service) LocalDeviceList(ctx context.Context, userID string) (federationclient.UserDevices, error) {
	out := federationclient.UserDevices{UserID: userID, Devices: []federationclient.UserDevice{}}
	if s.fed != nil {
		pub, err := s.fed.store.PublishedDevices(ctx, userID)
		if err != nil {
			return out, err
		}
		out.StreamID = pub.StreamID
	}
	cur, err := s.currentDevices(ctx, userID)
	if err != nil {
		return out, err
	}
	out.Devices, out.MasterKey, out.SelfSigningKey = cur.Devices, cur.MasterKey, cur.SelfSigningKey
	return out, nil
}

// currentDevices reads a local user's devices and cross-signing keys as
// others may see them.
func (s *Service) currentDevices(ctx context.Context, userID string) (federationclient.UserDevices, error) {
	out := federationclient.UserDevices{UserID: userID, Devices: []federationclient.UserDevice{}}
	res, err := s.queryLocal(ctx, "", map[string][]string{userID: nil})
	if err != nil {
		return out, err
	}
	ids := make([]string, 0, len(res.DeviceKeys[userID]))
	for id := range res.DeviceKeys[userID] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		keys := res.DeviceKeys[userID][id]
		var u struct {
			Unsigned struct {
				DisplayName string `json:"device_display_name"`
			} `json:"unsigned"`
		}
		_ = json.Unmarshal(keys, &u)
		out.Devices = append(out.Devices, federationclient.UserDevice{DeviceID: id, DisplayName: u.Unsigned.DisplayName, Keys: keys})
	}
	out.MasterKey = res.MasterKeys[userID]
	out.SelfSigningKey = res.SelfSigningKeys[userID]
	return out, nil
}

func digest(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// publishDevices tells the servers that share a room with a local user
// what changed in the user's devices since the last time: one
// m.device_list_update per changed or deleted device, their stream_ids
// following each other, and an m.signing_key_update when the master or
// self-signing key changed. What changed is the difference from what was
// last published, so any change (new keys, a rename, a logout, a
// signature) is found the same way.
func (s *Service) publishDevices(ctx context.Context, userID string) {
	if s.fed == nil || !s.isLocal(userID) {
		return
	}
	// A client that hangs up must not leave the change half told.
	ctx = context.WithoutCancel(ctx)
	unlock := s.fed.publishing.Lock(userID)
	defer unlock()
	if err := s.publishLocked(ctx, userID); err != nil {
		// Servers that missed an update see a gap at the next one and
		// fetch the whole list.
		s.log.WarnContext(ctx, "telling other servers of a device-list change", "user_id", userID, "err", err)
	}
}

func (s *Service) publishLocked(ctx context.Context, userID string) error {
	prev, err := s.fed.store.PublishedDevices(ctx, userID)
	if err != nil {
		return err
	}
	cur, err := s.currentDevices(ctx, userID)
	if err != nil {
		return err
	}
	next := PublishedDevices{UserID: userID, StreamID: prev.StreamID, Devices: map[string]string{},
		Signing: digest(cur.MasterKey, cur.SelfSigningKey)}
	var edus []json.RawMessage
	add := func(u deviceListUpdateEDU) error {
		u.UserID, u.PrevID = userID, []int64{}
		if next.StreamID > 0 {
			u.PrevID = []int64{next.StreamID}
		}
		next.StreamID++
		u.StreamID = next.StreamID
		raw, err := eduJSON("m.device_list_update", u)
		edus = append(edus, raw)
		return err
	}
	for _, d := range cur.Devices {
		next.Devices[d.DeviceID] = digest(d.Keys, []byte(d.DisplayName))
		if prev.Devices[d.DeviceID] == next.Devices[d.DeviceID] {
			continue
		}
		if err := add(deviceListUpdateEDU{DeviceID: d.DeviceID, DisplayName: d.DisplayName, Keys: d.Keys}); err != nil {
			return err
		}
	}
	gone := make([]string, 0)
	for id := range prev.Devices {
		if _, ok := next.Devices[id]; !ok {
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	for _, id := range gone {
		if err := add(deviceListUpdateEDU{DeviceID: id, Deleted: true}); err != nil {
			return err
		}
	}
	if next.Signing != prev.Signing && (cur.MasterKey != nil || cur.SelfSigningKey != nil) {
		raw, err := eduJSON("m.signing_key_update", signingKeyUpdateEDU{UserID: userID, MasterKey: cur.MasterKey, SelfSigningKey: cur.SelfSigningKey})
		if err != nil {
			return err
		}
		edus = append(edus, raw)
	}
	if len(edus) == 0 && next.Signing == prev.Signing {
		return nil
	}
	if err := s.fed.store.SetPublishedDevices(ctx, next); err != nil {
		return err
	}
	if len(edus) == 0 {
		return nil
	}
	servers, err := s.remoteServersOf(ctx, userID)
	if err != nil || len(servers) == 0 {
		return err
	}
	for _, edu := range edus {
		if err := s.fed.edus.QueueEDU(ctx, servers, edu); err != nil {
			return err
		}
	}
	return nil
}

// FederationQuery answers another server's /user/keys/query: local
// users' device keys and master and self-signing keys (never
// user-signing keys, nor others' signatures made with them).
func (s *Service) FederationQuery(ctx context.Context, users map[string][]string) (*QueryResult, error) {
	return s.queryLocal(ctx, "", users)
}

// FederationClaim answers another server's /user/keys/claim: local
// users' one-time keys, or fallback keys, as for a local client.
func (s *Service) FederationClaim(ctx context.Context, req map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error) {
	n := 0
	for userID, devices := range req {
		for deviceID, alg := range devices {
			if n++; n > maxClaims {
				return nil, refusal.New(refusal.InvalidParam, "too many keys claimed at once (at most %d)", maxClaims)
			}
			if alg == "" {
				return nil, refusal.New(refusal.InvalidParam, "one_time_keys.%s.%s must name an algorithm", userID, deviceID)
			}
		}
	}
	return s.claimLocal(ctx, req)
}
