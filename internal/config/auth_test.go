package config

import (
	"strings"
	"testing"
	"time"
)

// auth.refreshable_access_token_lifetime comes from the file and the
// environment, defaults to five minutes and refuses negative values.
func TestConfigAuthRefreshableLifetime(t *testing.T) {
	if got := Default().Auth.RefreshableAccessTokenLifetime; got != 5*time.Minute {
		t.Fatalf("default lifetime %s, want 5m", got)
	}
	file := writeConfig(t, "auth:\n  refreshable_access_token_lifetime: 90s\n")
	cfg := mustResolve(t, []string{"--config", file})
	if got := cfg.Auth.RefreshableAccessTokenLifetime; got != 90*time.Second {
		t.Fatalf("from the file: %s, want 90s", got)
	}
	cfg = mustResolve(t, []string{"--config", file}, "FOYER_AUTH_REFRESHABLE_ACCESS_TOKEN_LIFETIME=0")
	if got := cfg.Auth.RefreshableAccessTokenLifetime; got != 0 {
		t.Fatalf("env over the file: %s, want 0", got)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("0 (no refresh tokens) refused: %v", err)
	}
	cfg.Auth.RefreshableAccessTokenLifetime = -time.Second
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "auth.refreshable_access_token_lifetime") {
		t.Fatalf("negative lifetime: %v", err)
	}
}
