package server

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"foyer/internal/config"
	"foyer/internal/outbound"
	"foyer/internal/serverdiscovery"
	"foyer/internal/serverkeys"
)

// federationClient is the HTTP client every request to another homeserver
// goes through: matrix-federation://NAME URLs, resolved by server
// discovery (well-known, SRV, port 8448) on each request and sent by the
// one outbound client, which refuses non-public addresses unless allowed.
func federationClient(cfg config.Config) (*http.Client, *outbound.Client, error) {
	out, err := outbound.New(outbound.OptionsFromConfig(cfg.Outbound))
	if err != nil {
		return nil, nil, fmt.Errorf("the outbound HTTP client: %w", err)
	}
	discovery := serverdiscovery.New(serverdiscovery.Options{HTTP: out, DNS: net.DefaultResolver})
	return &http.Client{
		Transport: &serverdiscovery.FederationTransport{Discovery: discovery, Outbound: out},
		// A federation answer is the answer: redirects are not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, out, nil
}

// federationDestinations names every server by its matrix-federation://
// URL; the transport resolves it.
type federationDestinations struct{}

func (federationDestinations) ResolveServer(_ context.Context, serverName string) (serverkeys.Destination, error) {
	return serverkeys.Destination{BaseURL: "matrix-federation://" + serverName}, nil
}
