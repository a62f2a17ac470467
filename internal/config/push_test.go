package config

import (
	"strings"
	"testing"
	"time"
)

func TestConfigPushSection(t *testing.T) {
	cfg := mustResolve(t, nil)
	if cfg.Push.GiveUpAfter != 24*time.Hour || cfg.Push.RequestTimeout != 30*time.Second {
		t.Fatalf("default push = %+v, want give_up_after 24h and request_timeout 30s", cfg.Push)
	}
	file := writeConfig(t, "push:\n  give_up_after: 2h\n  request_timeout: 5s\n")
	cfg = mustResolve(t, []string{"--config", file})
	if cfg.Push.GiveUpAfter != 2*time.Hour || cfg.Push.RequestTimeout != 5*time.Second {
		t.Errorf("push from the file not applied: %+v", cfg.Push)
	}
	cfg = mustResolve(t, nil, "FOYER_PUSH_GIVE_UP_AFTER=90s", "FOYER_PUSH_REQUEST_TIMEOUT=2s")
	if cfg.Push.GiveUpAfter != 90*time.Second || cfg.Push.RequestTimeout != 2*time.Second {
		t.Errorf("push from the environment: %+v", cfg.Push)
	}
	for _, bad := range []struct {
		edit func(*Push)
		want string
	}{
		{func(p *Push) { p.GiveUpAfter = 0 }, "push.give_up_after"},
		{func(p *Push) { p.RequestTimeout = 10 * time.Minute }, "push.request_timeout"},
		{func(p *Push) { p.RequestTimeout = time.Millisecond }, "push.request_timeout"},
	} {
		c := Default()
		bad.edit(&c.Push)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("want an error naming %s, got %v", bad.want, err)
		}
	}
}
