package config

import (
	"strings"
	"testing"
)

// The account_limits and sync_limits sections and the guest to-device
// and write rates come from the file and the environment.
func TestConfigAccountLimits(t *testing.T) {
	def := Default()
	if def.AccountLimits.MaxPendingToDeviceBytes != 16<<20 || def.SyncLimits.ToDeviceBytes != 1<<20 || def.SyncLimits.InitialPresence != 200 ||
		def.AccountLimits.GuestMaxFilters >= def.AccountLimits.MaxFilters || def.AccountLimits.InfoURI == "" ||
		def.RateLimit.GuestToDevice != (Rate{PerSecond: 2, Burst: 30}) || def.RateLimit.GuestWrites != (Rate{PerSecond: 1, Burst: 20}) {
		t.Fatalf("defaults: %+v %+v %+v", def.AccountLimits, def.SyncLimits, def.RateLimit)
	}
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	file := writeConfig(t, `
account_limits:
  max_filters: 10
  guest_max_one_time_keys_per_device: 20
  max_pending_to_device_bytes: 2097152
  info_uri: https://example.org/limits
sync_limits:
  to_device_bytes: 65536
  initial_presence: 50
rate_limits:
  guest_to_device: {per_second: 1, burst: 5}
`)
	cfg := mustResolve(t, []string{"--config", file},
		"FOYER_ACCOUNT_LIMITS_GUEST_MAX_ACCOUNT_DATA_BYTES=1000",
		"FOYER_SYNC_TO_DEVICE_BYTES=4096",
		"FOYER_SYNC_INITIAL_PRESENCE=0",
		"FOYER_RATE_GUEST_WRITES=off",
	)
	l := cfg.AccountLimits
	if l.MaxFilters != 10 || l.GuestMaxOneTimeKeysPerDevice != 20 || l.MaxPendingToDeviceBytes != 2<<20 ||
		l.InfoURI != "https://example.org/limits" || l.GuestMaxAccountDataBytes != 1000 || cfg.SyncLimits.ToDeviceBytes != 4096 || cfg.SyncLimits.InitialPresence != 0 ||
		cfg.RateLimit.GuestToDevice != (Rate{PerSecond: 1, Burst: 5}) || cfg.RateLimit.GuestWrites != (Rate{}) {
		t.Fatalf("from the file and the environment: %+v %+v %+v", l, cfg.SyncLimits, cfg.RateLimit)
	}
}

func TestConfigAccountLimitsValidate(t *testing.T) {
	for name, c := range map[string]struct {
		change func(c *Config)
		want   string
	}{
		"negative cap":          {func(c *Config) { c.AccountLimits.GuestMaxFilters = -1 }, "account_limits.guest_max_filters"},
		"queue below a request": {func(c *Config) { c.AccountLimits.MaxPendingToDeviceBytes = 1000 }, "account_limits.max_pending_to_device_bytes"},
		"no info uri":           {func(c *Config) { c.AccountLimits.InfoURI = "" }, "account_limits.info_uri"},
		"no sync budget":        {func(c *Config) { c.SyncLimits.ToDeviceBytes = 0 }, "sync_limits.to_device_bytes"},
		"bad guest rate":        {func(c *Config) { c.RateLimit.GuestToDevice = Rate{PerSecond: 1} }, "rate_limits.guest_to_device"},
		"caps off are fine": {func(c *Config) {
			c.AccountLimits = AccountLimits{InfoURI: "https://example.org/limits"}
		}, ""},
	} {
		cfg := Default()
		c.change(&cfg)
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
	}
}
