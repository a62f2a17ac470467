package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeRegistration(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const bridgeRegistration = `
id: whatsapp
url: http://10.0.0.5:29318
as_token: as-secret-1
hs_token: hs-secret-1
sender_localpart: whatsappbot
rate_limited: false
de.sorunome.msc2409.push_ephemeral: true
org.matrix.msc3202: true
namespaces:
  users:
  - exclusive: true
    regex: '@whatsapp_.*:example\.org'
  aliases:
  - exclusive: false
    regex: '#whatsapp_.*'
protocols: [whatsapp]
unknown_bridge_key: ignored
`

func TestLoadAppServices(t *testing.T) {
	dir := t.TempDir()
	good := writeRegistration(t, dir, "wa.yaml", bridgeRegistration)
	cfg := Default()
	cfg.AppServices = []string{good}
	regs, err := cfg.LoadAppServices()
	if err != nil {
		t.Fatal(err)
	}
	r := regs[0]
	if r.ID != "whatsapp" || r.IsRateLimited() || !r.PushesEphemeral() || !r.DeviceMasquerading || !r.HasURL() || len(r.Protocols) != 1 {
		t.Errorf("registration read as %+v", r)
	}
	ns := r.Namespaces.Users[0]
	if !ns.Exclusive || !ns.Matches("@whatsapp_123:example.org") || ns.Matches("@alice:example.org") || ns.Matches("x@whatsapp_1:example.org") {
		t.Errorf("user namespace %+v matches wrongly", ns)
	}

	for name, tc := range map[string]struct {
		files []string
		want  string
	}{
		"bad regex": {[]string{strings.Replace(bridgeRegistration, `'#whatsapp_.*'`, `'#(unclosed'`, 1)}, "namespaces.aliases[0].regex"},
		"no id":     {[]string{strings.Replace(bridgeRegistration, "id: whatsapp", "", 1)}, "id is missing"},
		"no hs":     {[]string{strings.Replace(bridgeRegistration, "hs_token: hs-secret-1", "", 1)}, "hs_token is missing"},
		"bad url":   {[]string{strings.Replace(bridgeRegistration, "http://10.0.0.5:29318", "ftp://x", 1)}, "not an http(s) URL"},
		"duplicate id": {[]string{bridgeRegistration,
			strings.NewReplacer("as-secret-1", "as-2", "hs-secret-1", "hs-2").Replace(bridgeRegistration)}, `both have id "whatsapp"`},
		"duplicate token": {[]string{bridgeRegistration,
			strings.NewReplacer("id: whatsapp", "id: other", "hs-secret-1", "hs-2").Replace(bridgeRegistration)}, "reuses a token"},
		"not yaml": {[]string{"id: [unclosed"}, "not a valid registration file"},
	} {
		cfg := Default()
		for i, body := range tc.files {
			cfg.AppServices = append(cfg.AppServices, writeRegistration(t, t.TempDir(), "r"+string(rune('0'+i))+".yaml", body))
		}
		_, err := cfg.LoadAppServices()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: a token leaked into the message: %v", name, err)
		}
	}
	cfg = Default()
	cfg.AppServices = []string{filepath.Join(dir, "missing.yaml")}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("a missing file: %v", err)
	}
}

func TestAppServicesFromEnv(t *testing.T) {
	cfg := mustResolve(t, nil, "FOYER_APP_SERVICE_CONFIG_FILES=/a.yaml, /b.yaml", "FOYER_APP_SERVICE_MAX_BACKOFF=2s")
	if len(cfg.AppServices) != 2 || cfg.AppServices[1] != "/b.yaml" || cfg.AppServiceDelivery.MaxBackoff.String() != "2s" {
		t.Errorf("from the environment: %v %+v", cfg.AppServices, cfg.AppServiceDelivery)
	}
	file := writeConfig(t, "app_services:\n- /c.yaml\napp_service_delivery:\n  max_events: 5\n")
	cfg = mustResolve(t, []string{"--config", file})
	if len(cfg.AppServices) != 1 || cfg.AppServiceDelivery.MaxEvents != 5 || cfg.AppServiceDelivery.Timeout.String() != "30s" {
		t.Errorf("from the file: %v %+v", cfg.AppServices, cfg.AppServiceDelivery)
	}
}
