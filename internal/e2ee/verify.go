package e2ee

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"

	"foyer/internal/rooms/matrixevents"
)

// decodeKey reads an unpadded (or padded) base64 ed25519 public key.
func decodeKey(s string) (ed25519.PublicKey, bool) {
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, false
	}
	return ed25519.PublicKey(b), true
}

// verifySigned checks that obj carries a valid signature by signer with
// keyID ("ed25519:...") made with the unpadded base64 key pub, over its
// canonical JSON without "signatures" and "unsigned".
func verifySigned(obj json.RawMessage, signer, keyID, pub string) bool {
	key, ok := decodeKey(pub)
	if !ok {
		return false
	}
	return matrixevents.VerifyJSON(signer, keyID, key, obj) == nil
}

// signedContent is obj's canonical JSON without "signatures" and
// "unsigned": what signatures cover, for telling whether two uploads are
// the same key.
func signedContent(obj json.RawMessage) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, err
	}
	delete(m, "signatures")
	delete(m, "unsigned")
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return matrixevents.CanonicalJSON(raw)
}

func sameSignedContent(a, b json.RawMessage) bool {
	ca, err1 := signedContent(a)
	cb, err2 := signedContent(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
}

// signatures is the "signatures" object of a signed JSON object.
type signatures map[string]map[string]string

func readSignatures(obj json.RawMessage) signatures {
	var v struct {
		Signatures signatures `json:"signatures"`
	}
	_ = json.Unmarshal(obj, &v)
	return v.Signatures
}

// withSignatures returns obj with extra signatures merged into its own
// and, when unsigned is non-nil, its "unsigned" object replaced.
func withSignatures(obj json.RawMessage, extra []Signature, unsigned map[string]any) json.RawMessage {
	if len(extra) == 0 && unsigned == nil {
		return obj
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return obj
	}
	if len(extra) > 0 {
		sigs := readSignatures(obj)
		if sigs == nil {
			sigs = signatures{}
		}
		for _, s := range extra {
			if sigs[s.SignerUserID] == nil {
				sigs[s.SignerUserID] = map[string]string{}
			}
			sigs[s.SignerUserID][s.SignerKeyID] = s.Signature
		}
		m["signatures"], _ = json.Marshal(sigs)
	}
	if unsigned != nil {
		m["unsigned"], _ = json.Marshal(unsigned)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return obj
	}
	return out
}

// canonical returns obj's canonical JSON, or obj when it cannot.
func canonical(obj json.RawMessage) json.RawMessage {
	c, err := matrixevents.CanonicalJSON(obj)
	if err != nil {
		return obj
	}
	return c
}
