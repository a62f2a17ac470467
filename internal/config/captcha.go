package config

import (
	"fmt"
	"net/url"
	"regexp"
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
	// ScriptURL overrides the provider's widget script that Foyer's join
	// page loads (a self-hosted copy, a test fake); empty means the
	// provider's own. The page's Content-Security-Policy admits its origin.
	ScriptURL string `yaml:"script_url" env:"CAPTCHA_SCRIPT_URL"`
	// Timeout bounds one check with the provider; 0 means 10 s.
	Timeout time.Duration `yaml:"timeout" env:"CAPTCHA_TIMEOUT"`
}

// captchaWidgets are each provider's widget script (explicit rendering:
// the page calls render itself) and the origins its widget loads from,
// which the join page's Content-Security-Policy must admit.
var captchaWidgets = map[string]struct {
	script  string
	origins []string
}{
	CaptchaRecaptcha: {"https://www.google.com/recaptcha/api.js?render=explicit",
		[]string{"https://www.google.com", "https://www.gstatic.com", "https://www.recaptcha.net"}},
	CaptchaHCaptcha: {"https://js.hcaptcha.com/1/api.js?render=explicit",
		[]string{"https://hcaptcha.com", "https://*.hcaptcha.com"}},
	CaptchaTurnstile: {"https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit",
		[]string{"https://challenges.cloudflare.com"}},
}

// plainHost is a host (and port) that can stand in a CSP source as is.
var plainHost = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$`)

// WidgetScript is the script the join page loads to show the widget.
func (c Captcha) WidgetScript() string {
	if c.ScriptURL != "" {
		return c.ScriptURL
	}
	return captchaWidgets[c.Provider].script
}

// WidgetOrigins are the origins the widget needs in the page's CSP: the
// provider's own, or only ScriptURL's when it is set.
func (c Captcha) WidgetOrigins() []string {
	if c.ScriptURL != "" {
		u, err := url.Parse(c.ScriptURL)
		if err != nil {
			return nil
		}
		return []string{u.Scheme + "://" + u.Host}
	}
	return captchaWidgets[c.Provider].origins
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

// validate checks the section; requiredBy names the switch that needs a
// working captcha, if any.
func (c Captcha) validate(requiredBy string) []error {
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
	if c.ScriptURL != "" {
		if u, err := url.Parse(c.ScriptURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || !plainHost.MatchString(u.Host) {
			add("captcha.script_url %q is not an http(s) URL", c.ScriptURL)
		}
	}
	if requiredBy != "" {
		if c.Provider == "" {
			add("%s is on but captcha.provider is not set: set it to recaptcha, hcaptcha or turnstile", requiredBy)
		}
		if c.SiteKey == "" {
			add("%s is on but captcha.site_key is not set: set the provider's site key", requiredBy)
		}
		if c.Secret == "" {
			add("%s is on but captcha.secret is not set: set the provider's secret key", requiredBy)
		}
	}
	return errs
}
