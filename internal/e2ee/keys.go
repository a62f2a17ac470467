package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/refusal"
)

// AlgSignedCurve25519 is the one-time key algorithm clients use; sync
// and /keys/upload always report its count, 0 included, so clients know
// to upload more.
const AlgSignedCurve25519 = "signed_curve25519"

// maxKeyBytes caps one one-time or fallback key with its ID: a signed
// curve25519 key takes about 250 bytes, so the per-device key cap
// (account_limits.max_one_time_keys_per_device) bounds the bytes too.
const maxKeyBytes = 4096

// UploadRequest is the body of POST /keys/upload.
type UploadRequest struct {
	DeviceKeys   json.RawMessage            `json:"device_keys"`
	OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
	FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
}

// deviceKeysJSON is the part of a DeviceKeys object the server checks.
type deviceKeysJSON struct {
	UserID     string            `json:"user_id"`
	DeviceID   string            `json:"device_id"`
	Algorithms []string          `json:"algorithms"`
	Keys       map[string]string `json:"keys"`
	Signatures signatures        `json:"signatures"`
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

// Upload stores a device's keys and returns its one-time key counts
// (G-45). Device keys must be the caller's own device's, signed by that
// device's ed25519 key; signed one-time and fallback keys must be signed
// by it too.
func (s *Service) Upload(ctx context.Context, userID, deviceID string, req UploadRequest) (map[string]int, error) {
	up := KeyUpload{UserID: userID, DeviceID: deviceID}
	var signingKey string
	if !isNull(req.DeviceKeys) {
		var dk deviceKeysJSON
		if err := json.Unmarshal(req.DeviceKeys, &dk); err != nil {
			return nil, refusal.New(refusal.BadJSON, "device_keys is malformed: %v", err)
		}
		switch {
		case dk.UserID != userID:
			return nil, refusal.New(refusal.InvalidParam, "device_keys.user_id must be your own user ID %s", userID)
		case dk.DeviceID != deviceID:
			return nil, refusal.New(refusal.InvalidParam, "device_keys.device_id must be the device of this access token, %s", deviceID)
		case len(dk.Algorithms) == 0:
			// A required field missing is malformed JSON for the schema.
			return nil, refusal.New(refusal.BadJSON, "device_keys.algorithms must list the device's algorithms")
		}
		keyID := "ed25519:" + deviceID
		signingKey = dk.Keys[keyID]
		if !s.unverifiedKeys {
			if signingKey == "" {
				return nil, refusal.New(refusal.BadJSON, "device_keys.keys lacks the device's %s key", keyID)
			}
			if !verifySigned(req.DeviceKeys, userID, keyID, signingKey) {
				return nil, refusal.New(refusal.InvalidParam, "device_keys is not signed by the device's own key %s", keyID)
			}
		}
		// New keys for a device replace its old ones, as in Synapse (a
		// client that lost its store uploads fresh keys); the change
		// reaches everyone tracking the user's devices.
		up.DeviceKeys = canonical(req.DeviceKeys)
	} else if len(req.OneTimeKeys) > 0 || len(req.FallbackKeys) > 0 {
		stored, err := s.store.DeviceKeys(ctx, userID, deviceID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if err == nil {
			var dk deviceKeysJSON
			_ = json.Unmarshal(stored, &dk)
			signingKey = dk.Keys["ed25519:"+deviceID]
		}
	}
	var err error
	if up.OneTime, err = s.checkKeys(userID, deviceID, signingKey, req.OneTimeKeys, "one_time_keys"); err != nil {
		return nil, err
	}
	if up.Fallback, err = s.checkKeys(userID, deviceID, signingKey, req.FallbackKeys, "fallback_keys"); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, k := range up.Fallback {
		if seen[k.Algorithm] {
			return nil, refusal.New(refusal.InvalidParam, "fallback_keys has more than one %s key", k.Algorithm)
		}
		seen[k.Algorithm] = true
	}
	var done func()
	if up.DeviceKeys != nil {
		var err error
		if up.Pos, done, err = s.positions.Reserve(ctx); err != nil {
			return nil, err
		}
	}
	changed, err := s.store.UploadKeys(ctx, up)
	if done != nil {
		done()
	}
	if errors.Is(err, ErrKeyConflict) {
		return nil, refusal.New(refusal.InvalidParam, "a one-time key with this ID was already uploaded with a different value")
	}
	if err != nil {
		return nil, err
	}
	if changed {
		s.wakeMates(ctx, userID, up.Pos)
		s.publishDevices(ctx, userID)
	}
	return s.OneTimeKeyCounts(ctx, userID, deviceID)
}

// checkKeys validates a one_time_keys or fallback_keys object: IDs are
// "algorithm:key_id"; object values (signed keys) must carry the device's
// signature.
func (s *Service) checkKeys(userID, deviceID, signingKey string, keys map[string]json.RawMessage, field string) ([]OneTimeKey, error) {
	ids := make([]string, 0, len(keys))
	for id := range keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]OneTimeKey, 0, len(keys))
	for _, id := range ids {
		raw := keys[id]
		alg, keyID, ok := strings.Cut(id, ":")
		if !ok || alg == "" || keyID == "" {
			return nil, refusal.New(refusal.InvalidParam, "%s: key ID %q is not algorithm:key_id", field, id)
		}
		if len(id)+len(raw) > maxKeyBytes {
			return nil, refusal.New(refusal.TooLarge, "%s: %s is larger than the %d bytes a key may take", field, id, maxKeyBytes)
		}
		trimmed := strings.TrimSpace(string(raw))
		switch {
		case strings.HasPrefix(trimmed, "{"):
			var obj struct {
				Key string `json:"key"`
			}
			if err := json.Unmarshal(raw, &obj); err != nil || obj.Key == "" {
				return nil, refusal.New(refusal.InvalidParam, "%s: %s has no key", field, id)
			}
			if !s.unverifiedKeys {
				if signingKey == "" {
					return nil, refusal.New(refusal.InvalidParam, "%s: upload the device keys before signed keys", field)
				}
				if !verifySigned(raw, userID, "ed25519:"+deviceID, signingKey) {
					return nil, refusal.New(refusal.InvalidParam, "%s: %s is not signed by the device's key ed25519:%s", field, id, deviceID)
				}
			}
			raw = canonical(raw)
		case strings.HasPrefix(trimmed, `"`):
			if strings.HasPrefix(alg, "signed_") {
				return nil, refusal.New(refusal.InvalidParam, "%s: %s must be a signed key object", field, id)
			}
		default:
			return nil, refusal.New(refusal.InvalidParam, "%s: %s must be a string or a signed key object", field, id)
		}
		out = append(out, OneTimeKey{Algorithm: alg, KeyID: keyID, Key: raw})
	}
	return out, nil
}

// OneTimeKeyCounts is a device's unclaimed one-time keys per algorithm,
// signed_curve25519 always included.
func (s *Service) OneTimeKeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, error) {
	counts, err := s.store.OneTimeKeyCounts(ctx, userID, deviceID)
	if err != nil {
		return nil, err
	}
	if counts == nil {
		counts = map[string]int{}
	}
	if _, ok := counts[AlgSignedCurve25519]; !ok {
		counts[AlgSignedCurve25519] = 0
	}
	return counts, nil
}

// QueryResult is the body of a /keys/query answer.
type QueryResult struct {
	DeviceKeys      map[string]map[string]json.RawMessage `json:"device_keys"`
	MasterKeys      map[string]json.RawMessage            `json:"master_keys"`
	SelfSigningKeys map[string]json.RawMessage            `json:"self_signing_keys"`
	UserSigningKeys map[string]json.RawMessage            `json:"user_signing_keys"`
	Failures        map[string]any                        `json:"failures"`
}

// Query returns the device and cross-signing keys of users (device IDs
// narrow a user's devices; none means all). Every user asked for gets an
// entry, empty when unknown. Signatures uploaded separately are merged
// in; those made with someone's user-signing key on another user's key
// are shown only to the signer, and user-signing keys only to their owner.
// Other servers' users' keys come from the cached device list when it is
// current, or else from their servers within timeout; a server that did
// not answer is named in failures.
func (s *Service) Query(ctx context.Context, caller string, users map[string][]string, timeout time.Duration) (*QueryResult, error) {
	local := map[string][]string{}
	remote := map[string][]string{}
	for u, devices := range users {
		if s.fed != nil && !s.isLocal(u) {
			remote[u] = devices
		} else {
			local[u] = devices
		}
	}
	out, err := s.queryLocal(ctx, caller, local)
	if err != nil {
		return nil, err
	}
	if len(remote) > 0 {
		s.queryRemote(ctx, remote, timeout, out)
		if err := s.addOwnSignatures(ctx, caller, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// queryLocal is Query of the keys stored here: of local users.
func (s *Service) queryLocal(ctx context.Context, caller string, users map[string][]string) (*QueryResult, error) {
	out := &QueryResult{
		DeviceKeys:      map[string]map[string]json.RawMessage{},
		MasterKeys:      map[string]json.RawMessage{},
		SelfSigningKeys: map[string]json.RawMessage{},
		UserSigningKeys: map[string]json.RawMessage{},
		Failures:        map[string]any{},
	}
	var userIDs []string
	for u := range users {
		userIDs = append(userIDs, u)
		out.DeviceKeys[u] = map[string]json.RawMessage{}
	}
	if len(userIDs) == 0 {
		return out, nil
	}
	sort.Strings(userIDs)
	sigs, err := s.store.Signatures(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	sigsOn := map[[2]string][]Signature{}
	for _, sig := range sigs {
		if sig.SignerUserID != sig.TargetUserID && sig.SignerUserID != caller {
			continue
		}
		k := [2]string{sig.TargetUserID, sig.TargetKeyID}
		sigsOn[k] = append(sigsOn[k], sig)
	}
	devs, err := s.store.QueryDeviceKeys(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	for _, d := range devs {
		if want := users[d.UserID]; len(want) > 0 && !contains(want, d.DeviceID) {
			continue
		}
		unsigned := map[string]any{}
		if d.DisplayName != "" {
			unsigned["device_display_name"] = d.DisplayName
		}
		out.DeviceKeys[d.UserID][d.DeviceID] = withSignatures(d.Keys, sigsOn[[2]string{d.UserID, d.DeviceID}], unsigned)
	}
	csks, err := s.store.CrossSigningKeys(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	for _, k := range csks {
		raw := withSignatures(k.Keys, sigsOn[[2]string{k.UserID, k.PublicKey}], nil)
		switch k.Type {
		case KeyMaster:
			out.MasterKeys[k.UserID] = raw
		case KeySelfSigning:
			out.SelfSigningKeys[k.UserID] = raw
		case KeyUserSigning:
			if k.UserID == caller {
				out.UserSigningKeys[k.UserID] = raw
			}
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// maxClaims caps the keys one /keys/claim may take.
const maxClaims = 1000

// Claim hands out one key per requested device and algorithm: a one-time
// key, each exactly once, or the device's fallback key once none is left
// (G-45). Devices with neither are left out. Other servers' users' keys
// are claimed from their servers within timeout; failures names the
// servers that did not answer.
func (s *Service) Claim(ctx context.Context, req map[string]map[string]string, timeout time.Duration) (keys map[string]map[string]map[string]json.RawMessage, failures map[string]any, err error) {
	n := 0
	local := map[string]map[string]string{}
	remote := map[string]map[string]string{}
	for userID, devices := range req {
		for deviceID, alg := range devices {
			n++
			if n > maxClaims {
				return nil, nil, refusal.New(refusal.InvalidParam, "too many keys claimed at once (at most %d)", maxClaims)
			}
			if alg == "" {
				return nil, nil, refusal.New(refusal.InvalidParam, "one_time_keys.%s.%s must name an algorithm", userID, deviceID)
			}
		}
		if s.fed != nil && !s.isLocal(userID) {
			remote[userID] = devices
		} else {
			local[userID] = devices
		}
	}
	if keys, err = s.claimLocal(ctx, local); err != nil {
		return nil, nil, err
	}
	failures = map[string]any{}
	if len(remote) > 0 {
		s.claimRemote(ctx, remote, timeout, keys, failures)
	}
	return keys, failures, nil
}

// claimLocal is Claim of local users' keys; the request is checked.
func (s *Service) claimLocal(ctx context.Context, req map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error) {
	out := map[string]map[string]map[string]json.RawMessage{}
	for userID, devices := range req {
		for deviceID, alg := range devices {
			key, err := s.store.ClaimKey(ctx, userID, deviceID, alg)
			if errors.Is(err, ErrNoKey) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if out[userID] == nil {
				out[userID] = map[string]map[string]json.RawMessage{}
			}
			out[userID][deviceID] = map[string]json.RawMessage{key.FullID(): key.Key}
			for _, f := range s.onKeysClaimed {
				f(userID, deviceID)
			}
		}
	}
	return out, nil
}

// Changes lists the users whose devices changed in (from, to] among those
// the caller shares a room with (changed), and those it no longer shares
// any room with (left): /keys/changes and sync's device_lists.
func (s *Service) Changes(ctx context.Context, userID string, from, to int64) (changed, left []string, err error) {
	changed, left = []string{}, []string{}
	if to <= from {
		return changed, left, nil
	}
	// Look at what changed first (usually nothing, or little) and only
	// then at who shares a room: room-mates of a big room are many.
	ids, err := s.store.DeviceListChanges(ctx, nil, userID, from, to)
	if err != nil {
		return nil, nil, err
	}
	members, err := s.store.MemberChanges(ctx, userID, from, to)
	if err != nil {
		return nil, nil, err
	}
	if len(ids) == 0 && len(members) == 0 {
		return changed, left, nil
	}
	own, err := s.store.DeviceListChanges(ctx, []string{}, userID, from, to)
	if err != nil {
		return nil, nil, err
	}
	// Who shares a room with the caller now: one pass over the rooms'
	// cached state, rather than a query per changed user.
	mateList, err := s.rooms.RoomMates(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	isMate := make(map[string]bool, len(mateList))
	for _, m := range mateList {
		isMate[m] = true
	}
	changedSet := map[string]bool{}
	leftSet := map[string]bool{}
	pendingSet := map[string]bool{}
	for _, id := range ids {
		changedSet[id] = true
	}
	for _, mc := range members {
		joinedNow := mc.Membership == "join" && mc.PrevMembership != "join"
		leftNow := (mc.Membership == "leave" || mc.Membership == "ban") && mc.PrevMembership == "join"
		switch {
		case mc.UserID == userID && joinedNow:
			// Everyone in a room the caller joined may be new to it.
			others, err := s.store.JoinedMembers(ctx, mc.RoomID)
			if err != nil {
				return nil, nil, err
			}
			for _, o := range others {
				changedSet[o] = true
			}
		case mc.UserID == userID && leftNow:
			others, err := s.store.JoinedMembers(ctx, mc.RoomID)
			if err != nil {
				return nil, nil, err
			}
			for _, o := range others {
				leftSet[o] = true
			}
		case joinedNow:
			changedSet[mc.UserID] = true
		case (mc.Membership == "invite" || mc.Membership == "knock") && mc.PrevMembership != mc.Membership && mc.UserID != userID:
			// As Synapse does: a client may encrypt for the invited (or
			// knocking) before they join, so it hears of their devices.
			pendingSet[mc.UserID] = true
		case leftNow:
			leftSet[mc.UserID] = true
		}
	}
	ownEntry := map[string]bool{}
	for _, id := range own {
		ownEntry[id] = true
	}
	for u := range changedSet {
		// Entries meant for the caller alone (user-signing signatures)
		// count whoever they are about; the rest must be room-mates.
		if isMate[u] || ownEntry[u] {
			changed = append(changed, u)
		}
	}
	for u := range pendingSet {
		if !contains(changed, u) {
			changed = append(changed, u)
		}
	}
	for u := range leftSet {
		if !isMate[u] {
			left = append(left, u)
		}
	}
	changed = removeAll(changed, left)
	sort.Strings(changed)
	sort.Strings(left)
	return changed, left, nil
}

func removeAll(list, drop []string) []string {
	if len(drop) == 0 {
		return list
	}
	out := list[:0]
	for _, x := range list {
		if !contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

// localDevices lists a local user's device IDs.
func (s *Service) localDevices(ctx context.Context, userID string) ([]string, error) {
	devs, err := s.devices.ListDevices(ctx, userID)
	if err != nil && !errors.Is(err, accounts.ErrNotFound) {
		return nil, err
	}
	out := make([]string, 0, len(devs))
	for _, d := range devs {
		out = append(out, d.DeviceID)
	}
	return out, nil
}
