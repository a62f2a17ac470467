package config

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigHTTPSection(t *testing.T) {
	file := writeConfig(t, `
http:
  read_timeout: 5s
  max_connections_per_ip: 8
  trusted_proxies: [10.0.0.0/8, "::1"]
`)
	cfg := mustResolve(t, []string{"--config", file}, "FOYER_HTTP_WRITE_TIMEOUT=90s", "FOYER_HTTP_UPLOAD_TIMEOUT=20m")
	want := defaultHTTP()
	want.ReadTimeout, want.WriteTimeout, want.UploadTimeout = 5*time.Second, 90*time.Second, 20*time.Minute
	want.MaxConnectionsPerIP = 8
	want.TrustedProxies = []string{"10.0.0.0/8", "::1"}
	if !slices.Equal(cfg.HTTP.TrustedProxies, want.TrustedProxies) {
		t.Errorf("trusted_proxies = %q", cfg.HTTP.TrustedProxies)
	}
	got := cfg.HTTP
	got.TrustedProxies, want.TrustedProxies = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("http = %+v, want %+v", got, want)
	}
	if p := cfg.HTTP.TrustedProxyPrefixes(); !slices.Equal(p, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}) {
		t.Errorf("prefixes = %v", p)
	}

	cfg = mustResolve(t, nil, "FOYER_TRUSTED_PROXIES=127.0.0.1, 192.168.0.0/16", "FOYER_HTTP_MAX_CONNECTIONS_PER_IP=0")
	if !slices.Equal(cfg.HTTP.TrustedProxies, []string{"127.0.0.1", "192.168.0.0/16"}) || cfg.HTTP.MaxConnectionsPerIP != 0 {
		t.Errorf("from the environment: %+v", cfg.HTTP)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("a valid http section refused: %v", err)
	}

	for _, c := range []struct {
		change func(h *HTTP)
		want   string
	}{
		{func(h *HTTP) { h.ReadTimeout = 0 }, "http.read_timeout must be positive"},
		{func(h *HTTP) { h.WriteTimeout = -time.Second }, "http.write_timeout must be positive"},
		{func(h *HTTP) { h.UploadTimeout = 0 }, "http.upload_timeout must be positive"},
		{func(h *HTTP) { h.MaxConnectionsPerIP = -1 }, "http.max_connections_per_ip"},
		{func(h *HTTP) { h.TrustedProxies = []string{"10.0.0.0/33"} }, `http.trusted_proxies: "10.0.0.0/33"`},
		{func(h *HTTP) { h.TrustedProxies = []string{"proxy.example"} }, `http.trusted_proxies: "proxy.example"`},
	} {
		cfg := Default()
		c.change(&cfg.HTTP)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error with %q, got %v", c.want, err)
		}
	}
}
