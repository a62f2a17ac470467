package config

import (
	"slices"
	"strings"
	"testing"
)

func TestConfigFederationSection(t *testing.T) {
	if !Default().Federation.Enabled {
		t.Fatal("federation.enabled defaults to false")
	}
	file := writeConfig(t, `
federation:
  enabled: false
  well_known_server: matrix.example.org:443
  blocked_servers: [evil.example]
`)
	cfg := mustResolve(t, []string{"--config", file}, "FOYER_FEDERATION_ALLOWED_SERVERS=a.example, b.example:8448")
	f := cfg.Federation
	if f.Enabled || f.WellKnownServer != "matrix.example.org:443" || !slices.Equal(f.BlockedServers, []string{"evil.example"}) ||
		!slices.Equal(f.AllowedServers, []string{"a.example", "b.example:8448"}) {
		t.Fatalf("federation = %+v", f)
	}
	cfg = mustResolve(t, nil, "FOYER_FEDERATION_ENABLED=false", "FOYER_FEDERATION_WELL_KNOWN_SERVER=m.example:8448",
		"FOYER_FEDERATION_BLOCKED_SERVERS=x.example")
	if cfg.Federation.Enabled || cfg.Federation.WellKnownServer != "m.example:8448" || !slices.Equal(cfg.Federation.BlockedServers, []string{"x.example"}) {
		t.Fatalf("from the environment: %+v", cfg.Federation)
	}

	bad := Default()
	bad.Federation.WellKnownServer = "https://matrix.example.org"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "well_known_server") {
		t.Fatalf("a URL as well_known_server: %v", err)
	}
}

func TestFederationPermits(t *testing.T) {
	f := Federation{BlockedServers: []string{"Evil.example"}}
	if f.Permits("evil.example") || !f.Permits("good.example") {
		t.Fatal("block list")
	}
	f.AllowedServers = []string{"good.example", "evil.example"}
	if !f.Permits("GOOD.example") || f.Permits("other.example") || f.Permits("evil.example") {
		t.Fatal("allow list")
	}
}
