package serverdiscovery

import (
	"errors"
	"fmt"
	"net/http"

	"foyer/internal/outbound"
)

// FederationTransport sends requests whose URL names a Matrix server
// (matrix://server.name/path or matrix-federation://server.name/path, as
// gomatrixserverlib's federation client makes them) to the destinations
// Discovery finds for it, over the outbound client: https to each
// destination's address in turn, with its Host header and with the
// certificate checked against its TLS server name.
type FederationTransport struct {
	Discovery *Discovery
	Outbound  *outbound.Client
}

// RoundTrip implements http.RoundTripper.
func (t *FederationTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "matrix" && req.URL.Scheme != "matrix-federation" {
		closeBody(req)
		return nil, fmt.Errorf("federation transport: %q is not a matrix:// or matrix-federation:// URL", req.URL.Redacted())
	}
	dests, err := t.Discovery.Resolve(req.Context(), req.URL.Host)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	var lastErr error
	for i, dest := range dests {
		attempt := req.Clone(req.Context())
		if i > 0 && req.Body != nil && req.Body != http.NoBody {
			// The body went with the last attempt; only a request that can
			// make it again may try the next destination.
			if req.GetBody == nil {
				break
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			attempt.Body = body
		}
		attempt.URL.Scheme = "https"
		attempt.URL.Host = dest.Address
		attempt.Host = dest.Host
		resp, err := t.Outbound.TransportForServerName(dest.TLSServerName).RoundTrip(attempt)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if req.Context().Err() != nil {
			break
		}
	}
	if lastErr == nil {
		lastErr = errors.New("federation transport: no destination for " + req.URL.Host)
	}
	return nil, fmt.Errorf("federation request to %s: %w", req.URL.Host, lastErr)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
