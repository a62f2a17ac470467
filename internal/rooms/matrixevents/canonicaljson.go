package matrixevents

import (
	"crypto/ed25519"
	"errors"

	gmsl "github.com/matrix-org/gomatrixserverlib"
)

// CanonicalJSON returns Matrix canonical JSON (sorted keys, no
// insignificant whitespace, shortest escapes) for input.
func CanonicalJSON(input []byte) ([]byte, error) {
	return gmsl.CanonicalJSON(input)
}

// SignJSON adds our signature to a JSON object under signingName (a server
// name or user ID), ignoring "signatures" and "unsigned" as the spec says.
func SignJSON(signingName string, key *SigningKey, message []byte) ([]byte, error) {
	if key == nil {
		return nil, errors.New("sign json: no signing key")
	}
	return gmsl.SignJSON(signingName, gmsl.KeyID(key.id), key.priv, message)
}

// VerifyJSON checks that message carries a valid signature by signingName
// with keyID (e.g. "ed25519:ABCDEF") made with publicKey.
func VerifyJSON(signingName, keyID string, publicKey ed25519.PublicKey, message []byte) error {
	return gmsl.VerifyJSON(signingName, gmsl.KeyID(keyID), publicKey, message)
}
