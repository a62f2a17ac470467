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
		required bool
		want     string // "" for valid
	}{
		"off":                 {Captcha{}, false, ""},
		"configured":          {full, true, ""},
		"required, none":      {Captcha{}, true, "captcha.provider is not set"},
		"required, no secret": {Captcha{Provider: CaptchaTurnstile, SiteKey: "k"}, true, "captcha.secret is not set"},
		"required, no key":    {Captcha{Provider: CaptchaRecaptcha, Secret: "s"}, true, "captcha.site_key is not set"},
		"unknown provider":    {Captcha{Provider: "friendlycaptcha"}, false, "not one of recaptcha"},
		"bad verify URL":      {Captcha{Provider: CaptchaHCaptcha, VerifyURL: "ftp://x"}, false, "captcha.verify_url"},
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
