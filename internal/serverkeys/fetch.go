package serverkeys

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"foyer/internal/rooms/matrixevents"
)

// fetchTimeout bounds one key request; maxKeysBody its answer.
const (
	fetchTimeout = 30 * time.Second
	maxKeysBody  = 1 << 20
)

// fetcher makes the key requests of one refresh.
type fetcher struct {
	doer     Doer
	resolver Resolver
	now      func() time.Time
}

// direct asks serverName's own /_matrix/key/v2/server.
func (f fetcher) direct(ctx context.Context, serverName string) (Response, error) {
	raw, err := f.call(ctx, serverName, http.MethodGet, "/_matrix/key/v2/server", nil)
	if err != nil {
		return Response{}, err
	}
	return parseServerKeys(raw, serverName, f.now())
}

// viaNotary asks notary's /_matrix/key/v2/query for all of serverName's
// keys, valid from now (the notary's default) as a refresh needs.
// The answer must carry serverName's self-signatures and the notary's
// signature, checked with notaryKey.
func (f fetcher) viaNotary(ctx context.Context, notary, serverName string, notaryKey func(keyID string) (ed25519.PublicKey, error)) (Response, error) {
	query, err := json.Marshal(map[string]any{"server_keys": map[string]any{
		serverName: map[string]any{},
	}})
	if err != nil {
		return Response{}, err
	}
	raw, err := f.call(ctx, notary, http.MethodPost, "/_matrix/key/v2/query", query)
	if err != nil {
		return Response{}, err
	}
	var body struct {
		ServerKeys []json.RawMessage `json:"server_keys"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return Response{}, fmt.Errorf("notary %s: %w", notary, err)
	}
	var best Response
	for _, one := range body.ServerKeys {
		resp, err := parseServerKeys(one, serverName, f.now())
		if err != nil {
			continue
		}
		if !signedByNotary(one, notary, notaryKey) {
			continue
		}
		if best.Raw == nil || resp.ValidUntilTS > best.ValidUntilTS {
			best = resp
		}
	}
	if best.Raw == nil {
		return Response{}, fmt.Errorf("notary %s gave no checked keys of %s", notary, serverName)
	}
	return best, nil
}

// signedByNotary reports whether one of notary's signatures on raw checks.
func signedByNotary(raw []byte, notary string, notaryKey func(string) (ed25519.PublicKey, error)) bool {
	var body struct {
		Signatures map[string]map[string]string `json:"signatures"`
	}
	if json.Unmarshal(raw, &body) != nil {
		return false
	}
	for id := range body.Signatures[notary] {
		pub, err := notaryKey(id)
		if err != nil {
			continue
		}
		if matrixevents.VerifyJSON(notary, id, pub, raw) == nil {
			return true
		}
	}
	return false
}

// call sends an unauthenticated key request to serverName and returns
// the body of a 200 answer.
func (f fetcher) call(ctx context.Context, serverName, method, path string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	dest, err := f.resolver.ResolveServer(ctx, serverName)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", serverName, err)
	}
	u, err := url.Parse(dest.BaseURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("resolving %s: bad base URL %q", serverName, dest.BaseURL)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.JoinPath(path).String(), rd)
	if err != nil {
		return nil, err
	}
	if dest.Host != "" {
		req.Host = dest.Host
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.doer.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching keys from %s: %w", serverName, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxKeysBody+1))
	if err != nil {
		return nil, fmt.Errorf("fetching keys from %s: %w", serverName, err)
	}
	if len(raw) > maxKeysBody {
		return nil, errors.New("key answer from " + serverName + " is too large")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching keys from %s: status %d", serverName, resp.StatusCode)
	}
	return raw, nil
}
