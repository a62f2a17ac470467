package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"foyer/internal/refusal"
)

// SigningKeysUpload is the body of POST /keys/device_signing/upload.
type SigningKeysUpload struct {
	MasterKey      json.RawMessage `json:"master_key"`
	SelfSigningKey json.RawMessage `json:"self_signing_key"`
	UserSigningKey json.RawMessage `json:"user_signing_key"`
}

type crossSigningJSON struct {
	UserID string            `json:"user_id"`
	Usage  []string          `json:"usage"`
	Keys   map[string]string `json:"keys"`
}

// parseCrossSigningKey checks a cross-signing key object: the caller's,
// of the expected usage, with exactly one ed25519 key.
func parseCrossSigningKey(raw json.RawMessage, userID, usage string) (CrossSigningKey, error) {
	var k crossSigningJSON
	if err := json.Unmarshal(raw, &k); err != nil {
		return CrossSigningKey{}, refusal.New(refusal.BadJSON, "%s_key is malformed: %v", usage, err)
	}
	if k.UserID != userID {
		return CrossSigningKey{}, refusal.New(refusal.InvalidParam, "%s_key.user_id must be your own user ID", usage)
	}
	if !contains(k.Usage, usage) {
		return CrossSigningKey{}, refusal.New(refusal.InvalidParam, "%s_key.usage must include %q", usage, usage)
	}
	if len(k.Keys) != 1 {
		return CrossSigningKey{}, refusal.New(refusal.InvalidParam, "%s_key.keys must hold exactly one key", usage)
	}
	var pub string
	for id, v := range k.Keys {
		p, ok := strings.CutPrefix(id, "ed25519:")
		if !ok || p != v {
			return CrossSigningKey{}, refusal.New(refusal.InvalidParam, "%s_key.keys must be {\"ed25519:<key>\": \"<key>\"}", usage)
		}
		pub = p
	}
	if _, ok := decodeKey(pub); !ok {
		return CrossSigningKey{}, refusal.New(refusal.InvalidParam, "%s_key is not an unpadded base64 ed25519 key", usage)
	}
	return CrossSigningKey{UserID: userID, Type: usage, PublicKey: pub, Keys: canonical(raw)}, nil
}

// crossSigningKeys returns a user's stored cross-signing keys by type.
func (s *Service) crossSigningKeys(ctx context.Context, userID string) (map[string]CrossSigningKey, error) {
	keys, err := s.store.CrossSigningKeys(ctx, []string{userID})
	if err != nil {
		return nil, err
	}
	out := map[string]CrossSigningKey{}
	for _, k := range keys {
		out[k.Type] = k
	}
	return out, nil
}

// SigningUploadNeedsAuth reports whether uploading these keys needs
// user-interactive auth: not when the user has no master key yet (the
// first set-up, as Synapse allows) and not when every key given is the
// one already stored.
func (s *Service) SigningUploadNeedsAuth(ctx context.Context, userID string, up SigningKeysUpload) (bool, error) {
	stored, err := s.crossSigningKeys(ctx, userID)
	if err != nil {
		return false, err
	}
	if _, ok := stored[KeyMaster]; !ok {
		return false, nil
	}
	for typ, raw := range map[string]json.RawMessage{KeyMaster: up.MasterKey, KeySelfSigning: up.SelfSigningKey, KeyUserSigning: up.UserSigningKey} {
		if isNull(raw) {
			continue
		}
		old, ok := stored[typ]
		if !ok || !sameSignedContent(old.Keys, raw) {
			return true, nil
		}
	}
	return false, nil
}

// UploadSigningKeys stores the caller's cross-signing keys. The
// self-signing and user-signing keys must be signed by the master key
// (the one uploaded with them, or the stored one).
func (s *Service) UploadSigningKeys(ctx context.Context, userID string, up SigningKeysUpload) error {
	var keys []CrossSigningKey
	var master *CrossSigningKey
	if !isNull(up.MasterKey) {
		k, err := parseCrossSigningKey(up.MasterKey, userID, KeyMaster)
		if err != nil {
			return err
		}
		master = &k
		keys = append(keys, k)
	}
	for _, sub := range []struct {
		raw   json.RawMessage
		usage string
	}{{up.SelfSigningKey, KeySelfSigning}, {up.UserSigningKey, KeyUserSigning}} {
		if isNull(sub.raw) {
			continue
		}
		k, err := parseCrossSigningKey(sub.raw, userID, sub.usage)
		if err != nil {
			return err
		}
		if master == nil {
			stored, err := s.crossSigningKeys(ctx, userID)
			if err != nil {
				return err
			}
			m, ok := stored[KeyMaster]
			if !ok {
				return refusal.New(refusal.InvalidParam, "upload a master key before the %s key", sub.usage)
			}
			master = &m
		}
		if !verifySigned(sub.raw, userID, "ed25519:"+master.PublicKey, master.PublicKey) {
			return refusal.New(refusal.InvalidParam, "%s_key is not signed by the master key", sub.usage)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return refusal.New(refusal.MissingParam, "give at least one of master_key, self_signing_key, user_signing_key")
	}
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return err
	}
	err = s.store.PutCrossSigningKeys(ctx, userID, keys, pos)
	done()
	if err != nil {
		return err
	}
	if CrossSigningChangeVisibleTo(userID, keys) != "" {
		if s.waker != nil {
			s.waker.WakeAt(pos, []string{userID}, nil)
		}
		return nil
	}
	s.wakeMates(ctx, userID, pos)
	s.publishDevices(ctx, userID)
	return nil
}

// CrossSigningChangeVisibleTo says who must hear of new cross-signing
// keys: everyone who shares a room ("") when the master or self-signing
// key changed, which others verify the user with; only the user when just
// the user-signing key did, since only its owner can read that key.
func CrossSigningChangeVisibleTo(userID string, keys []CrossSigningKey) string {
	for _, k := range keys {
		if k.Type != KeyUserSigning {
			return ""
		}
	}
	return userID
}

// SignatureFailure is one entry of /keys/signatures/upload's failures.
type SignatureFailure struct {
	Errcode string `json:"errcode"`
	Error   string `json:"error"`
}

// UploadSignatures stores signatures on keys: on the caller's devices
// (made with its self-signing key), on its master key (made with one of
// its devices), and on other users' master keys (made with its
// user-signing key). Bad ones are reported per key, not stored.
func (s *Service) UploadSignatures(ctx context.Context, caller string, body map[string]map[string]json.RawMessage) (map[string]map[string]SignatureFailure, error) {
	failures := map[string]map[string]SignatureFailure{}
	fail := func(user, key, code, msg string) {
		if failures[user] == nil {
			failures[user] = map[string]SignatureFailure{}
		}
		failures[user][key] = SignatureFailure{Errcode: code, Error: msg}
	}
	own, err := s.crossSigningKeys(ctx, caller)
	if err != nil {
		return nil, err
	}
	var sigs []Signature
	changedUsers := map[DeviceListChange]bool{}
	users := make([]string, 0, len(body))
	for u := range body {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, target := range users {
		var targetKeys map[string]CrossSigningKey
		if target == caller {
			targetKeys = own
		} else if targetKeys, err = s.signableKeysOf(ctx, target); err != nil {
			return nil, err
		}
		for keyID, obj := range body[target] {
			got := readSignatures(obj)[caller]
			if len(got) == 0 {
				fail(target, keyID, "M_INVALID_SIGNATURE", "no signature by you on this key")
				continue
			}
			// What is signed, and with which of the caller's keys it may be.
			var signedObj json.RawMessage
			allowed := map[string]string{} // signer key ID -> public key
			visibleTo := ""
			switch {
			case target == caller && targetKeys[KeyMaster].PublicKey == keyID:
				signedObj = targetKeys[KeyMaster].Keys
				devs, err := s.store.QueryDeviceKeys(ctx, []string{caller})
				if err != nil {
					return nil, err
				}
				for _, d := range devs {
					var dk deviceKeysJSON
					if json.Unmarshal(d.Keys, &dk) == nil {
						if pub := dk.Keys["ed25519:"+d.DeviceID]; pub != "" {
							allowed["ed25519:"+d.DeviceID] = pub
						}
					}
				}
			case target == caller:
				stored, err := s.store.DeviceKeys(ctx, caller, keyID)
				if errors.Is(err, ErrNotFound) {
					fail(target, keyID, "M_NOT_FOUND", "no such device or key")
					continue
				}
				if err != nil {
					return nil, err
				}
				signedObj = stored
				if ssk, ok := own[KeySelfSigning]; ok {
					allowed["ed25519:"+ssk.PublicKey] = ssk.PublicKey
				}
			default:
				m, ok := targetKeys[KeyMaster]
				if !ok || m.PublicKey != keyID {
					fail(target, keyID, "M_NOT_FOUND", "only another user's master key can be signed")
					continue
				}
				signedObj = m.Keys
				if usk, ok := own[KeyUserSigning]; ok {
					allowed["ed25519:"+usk.PublicKey] = usk.PublicKey
				}
				visibleTo = caller
			}
			if !sameSignedContent(signedObj, obj) {
				fail(target, keyID, "M_INVALID_PARAM", "the signed object is not the stored key")
				continue
			}
			var add []Signature
			bad := false
			for signerKeyID, sig := range got {
				pub, ok := allowed[signerKeyID]
				if !ok {
					// Signatures by keys the server cannot check (or that
					// are already on the stored key) are not stored.
					if readSignatures(signedObj)[caller][signerKeyID] == sig {
						continue
					}
					bad = true
					break
				}
				if !verifySigned(obj, caller, signerKeyID, pub) {
					bad = true
					break
				}
				add = append(add, Signature{TargetUserID: target, TargetKeyID: keyID, SignerUserID: caller, SignerKeyID: signerKeyID, Signature: sig})
			}
			if bad || len(add) == 0 {
				fail(target, keyID, "M_INVALID_SIGNATURE", "the signature is not valid or not made with a key you may sign this with")
				continue
			}
			sigs = append(sigs, add...)
			changedUsers[DeviceListChange{UserID: target, VisibleTo: visibleTo}] = true
		}
	}
	if len(sigs) == 0 {
		return failures, nil
	}
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return nil, err
	}
	changes := make([]DeviceListChange, 0, len(changedUsers))
	for c := range changedUsers {
		c.Pos = pos
		changes = append(changes, c)
	}
	err = s.store.PutSignatures(ctx, sigs, changes)
	done()
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		if c.VisibleTo != "" {
			if s.waker != nil {
				s.waker.WakeAt(pos, []string{c.VisibleTo}, nil)
			}
			continue
		}
		s.wakeMates(ctx, c.UserID, pos)
		s.publishDevices(ctx, c.UserID)
	}
	return failures, nil
}
