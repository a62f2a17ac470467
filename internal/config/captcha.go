package config

import (
	"fmt"
	"net/url"
	"time"
)

// Captcha providers Foyer can check a response with.
const (
	CaptchaRecaptcha = "recaptcha"
	CaptchaHCaptcha  = "hcaptcha"
	CaptchaTurnstile = "turnstile"
)

// captchaVerifyURLs are each provider's own verify endpoint.
var captchaVerifyURLs = map[string]string{
	CaptchaRecaptcha: "https://www.google.com/recaptcha/api/siteverify",
	CaptchaHCaptcha:  "https://api.hcaptcha.com/siteverify",
	CaptchaTurnstile: "https://challenges.cloudflare.com/turnstile/v0/siteverify",
}

// Captcha is the captcha: section: the third-party captcha behind the
// UIA stage m.login.recaptcha. Where it is required is a switch of its
// own (registration_require_captcha).
type Captcha struct {
	// Provider is recaptcha, hcaptcha or turnstile; empty: none.
	Provider string `yaml:"provider" env:"CAPTCHA_PROVIDER"`
	// SiteKey is the public key clients show the widget with.
	SiteKey string `yaml:"site_key" env:"CAPTCHA_SITE_KEY"`
	// Secret is the key the server checks responses with.
	Secret string `yaml:"secret" env:"CAPTCHA_SECRET"`
	// VerifyURL overrides the provider's verify endpoint (a proxy, a test
	// fake); empty means the provider's own.
	VerifyURL string `yaml:"verify_url" env:"CAPTCHA_VERIFY_URL"`
	// Timeout bounds one check with the provider; 0 means 10 s.
	Timeout time.Duration `yaml:"timeout" env:"CAPTCHA_TIMEOUT"`
}

func defaultCaptcha() Captcha {
	return Captcha{Timeout: 10 * time.Second}
}

// EffectiveVerifyURL is VerifyURL, or the provider's own endpoint.
func (c Captcha) EffectiveVerifyURL() string {
	if c.VerifyURL != "" {
		return c.VerifyURL
	}
	return captchaVerifyURLs[c.Provider]
}

// validate checks the section; required says whether some switch needs a
// working captcha.
func (c Captcha) validate(required bool) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Provider != "" {
		if _, ok := captchaVerifyURLs[c.Provider]; !ok {
			add("captcha.provider %q is not one of recaptcha, hcaptcha, turnstile (or empty for none)", c.Provider)
		}
	}
	if c.VerifyURL != "" {
		if u, err := url.Parse(c.VerifyURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("captcha.verify_url %q is not an http(s) URL", c.VerifyURL)
		}
	}
	if c.Timeout < 0 {
		add("captcha.timeout must not be negative, not %s", c.Timeout)
	}
	if required {
		if c.Provider == "" {
			add("registration_require_captcha is on but captcha.provider is not set: set it to recaptcha, hcaptcha or turnstile")
		}
		if c.SiteKey == "" {
			add("registration_require_captcha is on but captcha.site_key is not set: set the provider's site key")
		}
		if c.Secret == "" {
			add("registration_require_captcha is on but captcha.secret is not set: set the provider's secret key")
		}
	}
	return errs
}
