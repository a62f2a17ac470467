package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The guest_access section and the guest rates come from the file and
// the environment; the top-level `guests` switch is untouched by them.
func TestConfigGuestAccess(t *testing.T) {
	def := Default()
	if !def.Guests || !def.GuestAccess.OpenRegistration || def.GuestAccess.ForbidPublicRooms ||
		def.GuestAccess.ExpireAfter != 720*time.Hour || def.GuestAccess.MaxLive != 0 || def.GuestAccess.MaxRooms != 50 ||
		len(def.GuestAccess.AutoJoinRooms) != 0 || def.RateLimit.GuestLinkRedemption != (Rate{PerSecond: 0.5, Burst: 20}) {
		t.Fatalf("defaults: %+v %+v", def.GuestAccess, def.RateLimit)
	}
	file := writeConfig(t, `
guests: true
guest_access:
  open_registration: false
  forbid_public_rooms: true
  auto_join_rooms: ["#lobby:example.org", "!abc:example.org"]
  expire_after: 48h
  expire_interval: 1m
  max_live: 1000
  max_rooms: 5
  link_url: https://chat.example.org/#/guest/{token}
  disabled_extensions: [typing_receipts]
rate_limits:
  guest_events: {per_second: 1, burst: 5}
`)
	cfg := mustResolve(t, []string{"--config", file})
	g := cfg.GuestAccess
	if !cfg.Guests || g.OpenRegistration || !g.ForbidPublicRooms || g.ExpireAfter != 48*time.Hour ||
		g.ExpireInterval != time.Minute || g.MaxLive != 1000 || g.MaxRooms != 5 ||
		!slices.Equal(g.AutoJoinRooms, []string{"#lobby:example.org", "!abc:example.org"}) ||
		!g.GuestExtensionDisabled("typing_receipts") || g.GuestExtensionDisabled("logout") ||
		cfg.RateLimit.GuestEvents != (Rate{PerSecond: 1, Burst: 5}) {
		t.Fatalf("from the file: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid file refused: %v", err)
	}
	cfg = mustResolve(t, []string{"--config", file, "--guests=false"},
		"FOYER_GUEST_OPEN_REGISTRATION=true",
		"FOYER_GUEST_AUTO_JOIN_ROOMS=#a:example.org, #b:example.org",
		"FOYER_GUEST_EXPIRE_AFTER=0",
		"FOYER_GUEST_MAX_LIVE=7",
		"FOYER_GUEST_DISABLED_EXTENSIONS=",
		"FOYER_RATE_GUEST_STATE_EVENTS=off",
		"FOYER_RATE_GUEST_LINK_REDEMPTION=2/3",
	)
	g = cfg.GuestAccess
	if cfg.Guests || !g.OpenRegistration || g.ExpireAfter != 0 || g.MaxLive != 7 ||
		!slices.Equal(g.AutoJoinRooms, []string{"#a:example.org", "#b:example.org"}) || len(g.DisabledExtensions) != 0 ||
		cfg.RateLimit.GuestStateEvents != (Rate{}) || cfg.RateLimit.GuestLinkRedemption != (Rate{PerSecond: 2, Burst: 3}) {
		t.Fatalf("env over the file: %+v", cfg)
	}
	if _, err := resolve(t, nil, "FOYER_GUEST_MAX_ROOMS=many"); err == nil {
		t.Fatal("a non-number max_rooms was accepted")
	}
}

func TestConfigGuestAccessValidate(t *testing.T) {
	for name, c := range map[string]struct {
		change func(g *GuestAccess)
		want   string
	}{
		"negative expiry":    {func(g *GuestAccess) { g.ExpireAfter = -time.Hour }, "guest_access.expire_after"},
		"tiny expiry":        {func(g *GuestAccess) { g.ExpireAfter = time.Second }, "shorter than a minute"},
		"no interval":        {func(g *GuestAccess) { g.ExpireInterval = 0 }, "guest_access.expire_interval"},
		"negative cap":       {func(g *GuestAccess) { g.MaxLive = -1 }, "guest_access.max_live"},
		"negative room cap":  {func(g *GuestAccess) { g.MaxRooms = -1 }, "guest_access.max_rooms"},
		"bad auto-join":      {func(g *GuestAccess) { g.AutoJoinRooms = []string{"lobby"} }, "guest_access.auto_join_rooms"},
		"link url":           {func(g *GuestAccess) { g.LinkURL = "https://x/" }, "must contain {token}"},
		"unknown extension":  {func(g *GuestAccess) { g.DisabledExtensions = []string{"search"} }, "guest_access.disabled_extensions"},
		"expiry off is fine": {func(g *GuestAccess) { g.ExpireAfter = 0 }, ""},
	} {
		cfg := Default()
		c.change(&cfg.GuestAccess)
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
	}
	cfg := Default()
	cfg.RateLimit.GuestEvents = Rate{PerSecond: 1}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "rate_limits.guest_events") {
		t.Errorf("guest event rate without burst: %v", err)
	}
}

// The guest human checks (captcha, proof of work) come from the file and
// the environment, and are checked.
func TestConfigGuestHumanChecks(t *testing.T) {
	def := Default().GuestAccess
	if def.RequireCaptcha || def.ProofOfWork || def.ProofOfWorkBits != DefaultProofOfWorkBits || def.ProofOfWorkTTL != 10*time.Minute {
		t.Fatalf("defaults: %+v", def)
	}
	file := writeConfig(t, `
guest_access:
  require_captcha: true
  proof_of_work: true
  proof_of_work_bits: 12
  proof_of_work_ttl: 2m
captcha:
  provider: turnstile
  site_key: k
  secret: s
  script_url: https://captcha.example.org/api.js
`)
	g := mustResolve(t, []string{"--config", file}).GuestAccess
	if !g.RequireCaptcha || !g.ProofOfWork || g.ProofOfWorkBits != 12 || g.ProofOfWorkTTL != 2*time.Minute {
		t.Errorf("from the file: %+v", g)
	}
	cfg := mustResolve(t, []string{"--config", file}, "FOYER_GUEST_REQUIRE_CAPTCHA=false", "FOYER_GUEST_PROOF_OF_WORK=false",
		"FOYER_GUEST_PROOF_OF_WORK_BITS=20", "FOYER_GUEST_PROOF_OF_WORK_TTL=30s", "FOYER_CAPTCHA_SCRIPT_URL=https://other.example.org/a.js")
	g = cfg.GuestAccess
	if g.RequireCaptcha || g.ProofOfWork || g.ProofOfWorkBits != 20 || g.ProofOfWorkTTL != 30*time.Second ||
		cfg.Captcha.ScriptURL != "https://other.example.org/a.js" {
		t.Errorf("env over the file: %+v %q", g, cfg.Captcha.ScriptURL)
	}

	for name, tc := range map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"no provider": {func(c *Config) { c.GuestAccess.RequireCaptcha = true }, "guest_access.require_captcha is on but captcha.provider is not set"},
		"zero bits":   {func(c *Config) { c.GuestAccess.ProofOfWorkBits = 0 }, "guest_access.proof_of_work_bits must be between 1 and 32"},
		"too hard":    {func(c *Config) { c.GuestAccess.ProofOfWorkBits = 33 }, "guest_access.proof_of_work_bits"},
		"short ttl":   {func(c *Config) { c.GuestAccess.ProofOfWorkTTL = time.Millisecond }, "guest_access.proof_of_work_ttl must be at least 1s"},
	} {
		c := Default()
		tc.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
