package integration

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/server"
	"foyer/internal/testharness"
)

// fakeCaptchaProvider is a verify endpoint that accepts "solved", refuses
// anything else, and remembers the forms it was sent.
type fakeCaptchaProvider struct {
	mu    sync.Mutex
	forms []map[string]string
}

func (p *fakeCaptchaProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.forms = append(p.forms, map[string]string{"secret": r.PostForm.Get("secret"),
		"response": r.PostForm.Get("response"), "remoteip": r.PostForm.Get("remoteip")})
	p.mu.Unlock()
	ok := r.PostForm.Get("secret") == "captcha-secret" && r.PostForm.Get("response") == "solved"
	w.Header().Set("Content-Type", "application/json")
	if ok {
		_, _ = io.WriteString(w, `{"success": true, "hostname": "localhost"}`)
		return
	}
	_, _ = io.WriteString(w, `{"success": false, "error-codes": ["invalid-input-response"]}`)
}

func (p *fakeCaptchaProvider) lastForm() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.forms) == 0 {
		return nil
	}
	return p.forms[len(p.forms)-1]
}

func (p *fakeCaptchaProvider) asked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.forms)
}

func captchaConfig(t *testing.T, provider, verifyURL string) config.Config {
	cfg := testharness.Config(t, "sqlite")
	cfg.Outbound.AllowPrivateAddresses = true
	cfg.RegistrationRequireCaptcha = true
	cfg.Captcha = config.Captcha{Provider: provider, SiteKey: "site-key-1", Secret: "captcha-secret",
		VerifyURL: verifyURL, Timeout: 300 * time.Millisecond}
	return cfg
}

func registerWithCaptcha(t *testing.T, hs *testharness.Homeserver, username, session, response string) *testharness.Response {
	return hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": username, "password": "pw-" + username,
		"auth": map[string]any{"type": "m.login.recaptcha", "response": response, "session": session}})
}

func TestCaptchaRegistration(t *testing.T) {
	provider := &fakeCaptchaProvider{}
	fake := httptest.NewServer(provider)
	defer fake.Close()
	hs := testharness.Start(t, captchaConfig(t, config.CaptchaRecaptcha, fake.URL+"/siteverify"))

	r := hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "carol", "password": "pw-carol"})
	expect(t, r, 401, "")
	var challenge struct {
		Flows []struct {
			Stages []string `json:"stages"`
		} `json:"flows"`
		Params  map[string]map[string]string `json:"params"`
		Session string                       `json:"session"`
	}
	if err := json.Unmarshal(r.Raw, &challenge); err != nil {
		t.Fatal(err)
	}
	if len(challenge.Flows) != 1 || strings.Join(challenge.Flows[0].Stages, ",") != "m.login.recaptcha" {
		t.Fatalf("flows: %s", r)
	}
	if challenge.Params["m.login.recaptcha"]["public_key"] != "site-key-1" {
		t.Fatalf("params: %s", r)
	}

	// A refused response leaves the stage to do; the provider was asked
	// with the secret, the response and (for reCAPTCHA) the client's IP.
	r = registerWithCaptcha(t, hs, "carol", challenge.Session, "forged")
	expect(t, r, 401, "M_UNAUTHORIZED")
	if c, _ := r.JSON["completed"].([]any); len(c) != 0 {
		t.Fatalf("refused captcha completed: %s", r)
	}
	if f := provider.lastForm(); f["secret"] != "captcha-secret" || f["response"] != "forged" || f["remoteip"] != "127.0.0.1" {
		t.Fatalf("form sent to the provider: %v", f)
	}
	// An empty response is refused without asking the provider.
	asked := provider.asked()
	expect(t, registerWithCaptcha(t, hs, "carol", challenge.Session, ""), 401, "M_UNAUTHORIZED")
	if provider.asked() != asked {
		t.Fatal("an empty response was sent to the provider")
	}

	// The accepted response registers, in the same session.
	r = registerWithCaptcha(t, hs, "carol", challenge.Session, "solved")
	expect(t, r, 200, "")
	if r.Str("user_id") != "@carol:localhost" || r.Str("access_token") == "" {
		t.Fatalf("registration: %s", r)
	}
	// Another registration needs its own captcha.
	r = hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "dave", "password": "pw-dave",
		"auth": map[string]any{"type": "m.login.dummy"}})
	expect(t, r, 401, "M_UNRECOGNIZED")

	// Guest registration has no captcha in this configuration.
	expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{}), 200, "")
}

func TestCaptchaWithRegistrationToken(t *testing.T) {
	fake := httptest.NewServer(&fakeCaptchaProvider{})
	defer fake.Close()
	cfg := captchaConfig(t, config.CaptchaHCaptcha, fake.URL)
	cfg.Registration = config.RegistrationToken
	hs := testharness.Start(t, cfg)
	r := hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "erin", "password": "pw-erin"})
	expect(t, r, 401, "")
	if !strings.Contains(string(r.Raw), `"stages":["m.login.recaptcha","m.login.registration_token"]`) {
		t.Fatalf("flows: %s", r)
	}
	r = registerWithCaptcha(t, hs, "erin", r.Str("session"), "solved")
	expect(t, r, 401, "")
	if c, _ := r.JSON["completed"].([]any); len(c) != 1 || c[0] != "m.login.recaptcha" {
		t.Fatalf("completed: %s", r)
	}
}

func TestCaptchaProviderUnreachable(t *testing.T) {
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer silent.Close()
	defer close(release)
	hs := testharness.Start(t, captchaConfig(t, config.CaptchaTurnstile, silent.URL))
	r := hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "frank", "password": "pw-frank"})
	expect(t, r, 401, "")
	session := r.Str("session")
	start := time.Now()
	r = registerWithCaptcha(t, hs, "frank", session, "solved")
	expect(t, r, 503, "M_UNKNOWN")
	if !strings.Contains(r.Str("error"), "captcha provider could not be reached") || time.Since(start) > 5*time.Second {
		t.Fatalf("after %s: %s", time.Since(start), r)
	}
	// The same for a named guest (no password) and a guest upgrade.
	r = hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "nina"})
	expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "nina",
		"auth": map[string]any{"type": "m.login.recaptcha", "response": "solved", "session": r.Str("session")}}), 503, "M_UNKNOWN")
	g := hs.RegisterGuest(t)
	lp := strings.TrimSuffix(strings.TrimPrefix(g.UserID, "@"), ":localhost")
	r = hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": lp, "guest_access_token": g.Token})
	expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": lp, "guest_access_token": g.Token,
		"auth": map[string]any{"type": "m.login.recaptcha", "response": "solved", "session": r.Str("session")}}), 503, "M_UNKNOWN")
	if who := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", g.Token, nil); who.JSON["is_guest"] != true {
		t.Fatalf("the guest changed without a checked captcha: %s", who)
	}

	// A provider that answers nonsense is no verdict either.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusBadGateway)
	}))
	defer broken.Close()
	hs2 := testharness.Start(t, captchaConfig(t, config.CaptchaTurnstile, broken.URL))
	r = hs2.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "grace", "password": "pw-grace"})
	expect(t, registerWithCaptcha(t, hs2, "grace", r.Str("session"), "solved"), 503, "M_UNKNOWN")

	// The check goes through the outbound client: a provider on a private
	// address is refused unless the operator allows those.
	provider := &fakeCaptchaProvider{}
	private := httptest.NewServer(provider)
	defer private.Close()
	cfg := captchaConfig(t, config.CaptchaTurnstile, private.URL)
	cfg.Outbound.AllowPrivateAddresses = false
	hs3 := testharness.Start(t, cfg)
	r = hs3.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "ivan", "password": "pw-ivan"})
	expect(t, registerWithCaptcha(t, hs3, "ivan", r.Str("session"), "solved"), 503, "M_UNKNOWN")
	if provider.asked() != 0 {
		t.Fatal("the outbound client reached a loopback provider")
	}
}

func TestCaptchaOffLeavesFlows(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	// A provider alone does not require the captcha anywhere.
	cfg.Captcha = config.Captcha{Provider: config.CaptchaHCaptcha, SiteKey: "k", Secret: "s"}
	hs := testharness.Start(t, cfg)
	r := hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "heidi", "password": "pw-heidi"})
	expect(t, r, 401, "")
	if !strings.Contains(string(r.Raw), `"flows":[{"stages":["m.login.dummy"]}]`) || strings.Contains(string(r.Raw), "recaptcha") {
		t.Fatalf("flows: %s", r)
	}
}

func TestCaptchaConfigRequiresProvider(t *testing.T) {
	for name, mutate := range map[string]func(*config.Config){
		"no provider": func(c *config.Config) { c.Captcha = config.Captcha{SiteKey: "k", Secret: "s"} },
		"no secret":   func(c *config.Config) { c.Captcha.Secret = "" },
		"no site key": func(c *config.Config) { c.Captcha.SiteKey = "" },
	} {
		cfg := captchaConfig(t, config.CaptchaHCaptcha, "")
		mutate(&cfg)
		_, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "registration_require_captcha is on") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
