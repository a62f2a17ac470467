package matrixevents

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	gmsl "github.com/matrix-org/gomatrixserverlib"
)

// EventKeyLookup finds the public key serverName signed with under keyID,
// usable for an event sent at ts (ms since the epoch).
type EventKeyLookup func(ctx context.Context, serverName, keyID string, ts int64) (ed25519.PublicKey, error)

// VerifyEventSignatures checks that every server that must sign ev has:
// the sender's server, for room versions 1 and 2 the server of the event
// ID, the invited user's server for invites and the authorising server
// of a restricted join. Signatures are over the redacted event; each
// server needs one ed25519 signature that checks with a key keys finds.
func VerifyEventSignatures(ctx context.Context, ev Event, keys EventKeyLookup) error {
	if ev.pdu == nil {
		return errors.New("verify event signatures: no event")
	}
	return gmsl.VerifyEventSignatures(ctx, ev.pdu, eventVerifier{keys: keys}, userIDForSender)
}

// eventVerifier adapts an EventKeyLookup to the library's JSONVerifier.
type eventVerifier struct{ keys EventKeyLookup }

func (v eventVerifier) VerifyJSONs(ctx context.Context, requests []gmsl.VerifyJSONRequest) ([]gmsl.VerifyJSONResult, error) {
	results := make([]gmsl.VerifyJSONResult, len(requests))
	for i, req := range requests {
		results[i].Error = v.verifyOne(ctx, string(req.ServerName), int64(req.AtTS), req.Message)
	}
	return results, nil
}

func (v eventVerifier) verifyOne(ctx context.Context, server string, ts int64, message []byte) error {
	keyIDs, err := gmsl.ListKeyIDs(server, message)
	if err != nil {
		return fmt.Errorf("signatures of %s: %w", server, err)
	}
	var lastErr error = fmt.Errorf("no signature by %s", server)
	for _, id := range keyIDs {
		if !strings.HasPrefix(string(id), "ed25519:") {
			continue
		}
		key, err := v.keys(ctx, server, string(id), ts)
		if err != nil {
			lastErr = fmt.Errorf("key %s of %s: %w", id, server, err)
			continue
		}
		if err := gmsl.VerifyJSON(server, id, key, message); err != nil {
			lastErr = fmt.Errorf("signature of %s with %s does not check", server, id)
			continue
		}
		return nil
	}
	return lastErr
}
