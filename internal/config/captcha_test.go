package config

import (
	"strings"
	"testing"
	"time"
)

func TestCaptchaValidate(t *testing.T) {
	full := Captcha{Provider: CaptchaHCaptcha, SiteKey: "site", Secret: "secret"}
	for name, tc := range map[string]struct {
		c        Captcha
		required string // the switch that needs it, if any
		want     string // "" for valid
	}{
		"off":                    {Captcha{}, "", ""},
		"configured":             {full, "registration_require_captcha", ""},
		"required, none":         {Captcha{}, "registration_require_captcha", "registration_require_captcha is on but captcha.provider is not set"},
		"guests, none":           {Captcha{}, "guest_access.require_captcha", "guest_access.require_captcha is on but captcha.provider is not set"},
		"required, no secret":    {Captcha{Provider: CaptchaTurnstile, SiteKey: "k"}, "registration_require_captcha", "captcha.secret is not set"},
		"required, no key":       {Captcha{Provider: CaptchaRecaptcha, Secret: "s"}, "registration_require_captcha", "captcha.site_key is not set"},
		"unknown provider":       {Captcha{Provider: "friendlycaptcha"}, "", "not one of recaptcha"},
		"bad verify URL":         {Captcha{Provider: CaptchaHCaptcha, VerifyURL: "ftp://x"}, "", "captcha.verify_url"},
		"bad script URL":         {Captcha{Provider: CaptchaHCaptcha, ScriptURL: "javascript:alert(1)"}, "", "captcha.script_url"},
		"script host breaks CSP": {Captcha{Provider: CaptchaHCaptcha, ScriptURL: "https://a;script-src:*/x.js"}, "", "captcha.script_url"},
		"script on IPv6":         {Captcha{Provider: CaptchaHCaptcha, ScriptURL: "http://[::1]:8080/x.js"}, "", ""},
	} {
		errs := tc.c.validate(tc.required)
		if tc.want == "" {
			if len(errs) != 0 {
				t.Errorf("%s: %v", name, errs)
			}
			continue
		}
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%s: errors %v, want one containing %q", name, errs, tc.want)
		}
	}
	if got := (Captcha{Provider: CaptchaTurnstile}).WidgetOrigins(); len(got) != 1 || got[0] != "https://challenges.cloudflare.com" {
		t.Errorf("turnstile widget origins %v", got)
	}
	fake := Captcha{Provider: CaptchaHCaptcha, ScriptURL: "http://127.0.0.1:9/fake/api.js?render=explicit"}
	if got := fake.WidgetOrigins(); len(got) != 1 || got[0] != "http://127.0.0.1:9" || fake.WidgetScript() != fake.ScriptURL {
		t.Errorf("overridden widget %v %q", got, fake.WidgetScript())
	}
	if got := (Captcha{Provider: CaptchaTurnstile}).EffectiveVerifyURL(); got != "https://challenges.cloudflare.com/turnstile/v0/siteverify" {
		t.Errorf("turnstile verify URL %q", got)
	}
	if got := (Captcha{Provider: CaptchaTurnstile, VerifyURL: "http://127.0.0.1:1/v"}).EffectiveVerifyURL(); got != "http://127.0.0.1:1/v" {
		t.Errorf("overridden verify URL %q", got)
	}
}

func TestCaptchaFileAndEnv(t *testing.T) {
	file := writeConfig(t, `
registration_require_captcha: true
captcha:
  provider: hcaptcha
  site_key: file-key
  secret: file-secret
  timeout: 3s
`)
	cfg := mustResolve(t, []string{"--config", file})
	if !cfg.RegistrationRequireCaptcha || cfg.Captcha != (Captcha{Provider: CaptchaHCaptcha, SiteKey: "file-key", Secret: "file-secret", Timeout: 3 * time.Second}) {
		t.Errorf("from the file: %+v %v", cfg.Captcha, cfg.RegistrationRequireCaptcha)
	}
	cfg = mustResolve(t, []string{"--config", file},
		"FOYER_REGISTRATION_REQUIRE_CAPTCHA=false",
		"FOYER_CAPTCHA_PROVIDER=turnstile",
		"FOYER_CAPTCHA_SITE_KEY=env-key",
		"FOYER_CAPTCHA_SECRET=env-secret",
		"FOYER_CAPTCHA_VERIFY_URL=http://127.0.0.1:9/verify",
		"FOYER_CAPTCHA_TIMEOUT=500ms",
	)
	if cfg.RegistrationRequireCaptcha || cfg.Captcha != (Captcha{Provider: CaptchaTurnstile, SiteKey: "env-key", Secret: "env-secret",
		VerifyURL: "http://127.0.0.1:9/verify", Timeout: 500 * time.Millisecond}) {
		t.Errorf("env over the file: %+v %v", cfg.Captcha, cfg.RegistrationRequireCaptcha)
	}
	if d := Default(); d.RegistrationRequireCaptcha || d.Captcha.Provider != "" || d.Captcha.Timeout != 10*time.Second {
		t.Errorf("defaults: %+v", d.Captcha)
	}
}
