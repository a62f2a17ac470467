package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigOutboundSection(t *testing.T) {
	cfg := mustResolve(t, nil)
	if cfg.Outbound.AllowPrivateAddresses || cfg.Outbound.TrustedCAFile != "" {
		t.Fatalf("default outbound = %+v, want private addresses refused and no extra CA", cfg.Outbound)
	}

	file := writeConfig(t, "outbound:\n  allow_private_addresses: true\n")
	cfg = mustResolve(t, []string{"--config", file})
	if !cfg.Outbound.AllowPrivateAddresses {
		t.Errorf("outbound.allow_private_addresses from the file not applied: %+v", cfg.Outbound)
	}

	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = mustResolve(t, nil, "FOYER_OUTBOUND_ALLOW_PRIVATE_ADDRESSES=true", "FOYER_OUTBOUND_TRUSTED_CA_FILE="+notPEM)
	if !cfg.Outbound.AllowPrivateAddresses || cfg.Outbound.TrustedCAFile != notPEM {
		t.Errorf("from the environment: %+v", cfg.Outbound)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("a CA file without certificates: want an error, got %v", err)
	}
	cfg.Outbound.TrustedCAFile = filepath.Join(dir, "missing.pem")
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "outbound.trusted_ca_file") {
		t.Errorf("a missing CA file: want an error, got %v", err)
	}
}
