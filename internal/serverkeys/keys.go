// Package serverkeys holds the federation's signing keys: ours, as
// /_matrix/key/v2/server publishes them, and other servers', fetched from
// them (or a notary), checked against their self-signatures and cached in
// the database until they expire. It answers the key questions of request
// authentication and of the notary API (/_matrix/key/v2/query).
//
// It is Foyer's own code over matrixevents' canonical JSON and signing
// rather than gomatrixserverlib's KeyRing: the notary needs each server's
// raw signed answer, which the KeyRing does not keep, and its fetchers
// bring their own HTTP client and discovery where Foyer's outbound client
// must be used.
package serverkeys

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"foyer/internal/rooms/matrixevents"
)

// Key is one of a server's signing keys as this server knows it.
type Key struct {
	KeyID     string
	PublicKey ed25519.PublicKey
	// ValidUntilTS bounds a key the server still publishes.
	ValidUntilTS int64
	// ExpiredTS is when the server stopped using an old key; 0 for a key
	// it still publishes.
	ExpiredTS int64
}

// Current reports whether the key may sign requests at ts (ms): it is
// still published and within its validity.
func (k Key) Current(ts int64) bool { return k.ExpiredTS == 0 && k.ValidUntilTS >= ts }

// ValidAt reports whether the key may have signed an event sent at ts
// (ms): a current key valid until then, or an old key that expired after.
func (k Key) ValidAt(ts int64) bool {
	if k.ExpiredTS != 0 {
		return k.ExpiredTS > ts
	}
	return k.ValidUntilTS >= ts
}

// Response is one server's checked answer of /_matrix/key/v2/server.
type Response struct {
	ServerName string
	// Raw is the answer as signed by the server (and by a notary, when it
	// came through one).
	Raw []byte
	// ValidUntilTS is the answer's valid_until_ts, capped (see maxKeyLifetime).
	ValidUntilTS int64
	Keys         []Key
}

// KeyAnswer is the last stored answer that listed one of a server's keys.
type KeyAnswer struct {
	KeyID string
	// Raw is the answer as signed by the server (and a notary, if any).
	Raw []byte
	// ValidUntilTS is the answer's valid_until_ts, capped as Response's.
	ValidUntilTS int64
}

// Store keeps other servers' keys and, for each key, the last answer that
// listed it (both databases: internal/storage).
type Store interface {
	// Key returns a stored key; ok is false when there is none.
	Key(ctx context.Context, serverName, keyID string) (key Key, ok bool, err error)
	// SaveResponse stores an answer and its keys: keys it lists replace
	// what was known of them and have it as their answer; keys it no
	// longer lists are kept, with the answer that last listed them.
	SaveResponse(ctx context.Context, resp Response, fetchedTS int64) error
	// Answers returns the stored answers of serverName's keys keyIDs, or
	// of all its keys when keyIDs is empty, one per key found, in key ID
	// order. Keys listed by one answer each come with a copy of it.
	Answers(ctx context.Context, serverName string, keyIDs []string) ([]KeyAnswer, error)
}

// Errors of key lookups.
var (
	// ErrKeyNotFound: the server (or a notary) did not give the key, or
	// not one valid at the time asked.
	ErrKeyNotFound = errors.New("server key not found")
	// ErrServerNotPermitted: federation.allowed_servers or
	// blocked_servers forbid the server.
	ErrServerNotPermitted = errors.New("federation with this server is not permitted")
	// ErrNoOutbound: no outbound client is set, so remote keys cannot be
	// fetched.
	ErrNoOutbound = errors.New("no outbound federation client configured")
)

// maxKeyLifetime caps how long a fetched key is trusted, whatever
// valid_until_ts the server gave: the spec's 7 days (room versions 5 and
// later), which also bounds the cache.
const maxKeyLifetime = 7 * 24 * time.Hour

// serverKeysJSON is the shape of /_matrix/key/v2/server.
type serverKeysJSON struct {
	ServerName   string `json:"server_name"`
	ValidUntilTS int64  `json:"valid_until_ts"`
	VerifyKeys   map[string]struct {
		Key string `json:"key"`
	} `json:"verify_keys"`
	OldVerifyKeys map[string]struct {
		Key       string `json:"key"`
		ExpiredTS int64  `json:"expired_ts"`
	} `json:"old_verify_keys"`
	Signatures map[string]map[string]string `json:"signatures"`
}

// parseServerKeys checks an answer of serverName's keys: it names that
// server, lists at least one ed25519 key, and every listed key signed it.
func parseServerKeys(raw []byte, serverName string, now time.Time) (Response, error) {
	var body serverKeysJSON
	if err := json.Unmarshal(raw, &body); err != nil {
		return Response{}, fmt.Errorf("keys of %s: not a JSON object: %w", serverName, err)
	}
	if body.ServerName != serverName {
		return Response{}, fmt.Errorf("keys of %s: answer is for %q", serverName, body.ServerName)
	}
	validUntil := min(body.ValidUntilTS, now.Add(maxKeyLifetime).UnixMilli())
	resp := Response{ServerName: serverName, Raw: raw, ValidUntilTS: validUntil}
	for id, vk := range body.VerifyKeys {
		if !strings.HasPrefix(id, "ed25519:") {
			continue
		}
		pub, err := matrixevents.DecodeBase64(vk.Key)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return Response{}, fmt.Errorf("keys of %s: %s is not an ed25519 public key", serverName, id)
		}
		if err := matrixevents.VerifyJSON(serverName, id, pub, raw); err != nil {
			return Response{}, fmt.Errorf("keys of %s: not self-signed by %s: %w", serverName, id, err)
		}
		resp.Keys = append(resp.Keys, Key{KeyID: id, PublicKey: pub, ValidUntilTS: validUntil})
	}
	if len(resp.Keys) == 0 {
		return Response{}, fmt.Errorf("keys of %s: no ed25519 verify key", serverName)
	}
	for id, ok := range body.OldVerifyKeys {
		if _, current := body.VerifyKeys[id]; current || !strings.HasPrefix(id, "ed25519:") || ok.ExpiredTS <= 0 {
			continue
		}
		pub, err := matrixevents.DecodeBase64(ok.Key)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			continue
		}
		resp.Keys = append(resp.Keys, Key{KeyID: id, PublicKey: pub, ExpiredTS: ok.ExpiredTS})
	}
	return resp, nil
}

// Doer sends an HTTP request: Foyer's outbound client, or in tests a
// client that reaches loopback servers.
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

// Destination is where a server name's federation API is reached.
type Destination struct {
	// BaseURL is scheme, host and port, e.g. "https://matrix.example.org:8448".
	BaseURL string
	// Host is the Host header to send; empty means BaseURL's host.
	Host string
}

// Resolver finds a server name's federation endpoint (server discovery).
type Resolver interface {
	ResolveServer(ctx context.Context, serverName string) (Destination, error)
}
