// Package captcha checks the response a person's browser got from a
// third-party captcha (reCAPTCHA, hCaptcha, Turnstile) with the
// provider's verify endpoint. All three take the same form-encoded
// request and answer {"success": bool, ...}.
package captcha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"foyer/internal/config"
	"foyer/internal/outbound"
)

// ErrUnavailable is a check that could not be made: the provider was not
// reached, timed out or answered something other than a verdict.
var ErrUnavailable = errors.New("the captcha provider could not be reached")

// maxVerdictBytes bounds the provider's answer, a small JSON object.
const maxVerdictBytes = 64 << 10

// Verifier checks responses for one configured provider.
type Verifier struct {
	provider  string
	siteKey   string
	secret    string
	verifyURL string
	timeout   time.Duration
	client    *outbound.Client
}

// New builds a Verifier for cfg, which has a provider, sending its checks
// through client.
func New(cfg config.Captcha, client *outbound.Client) *Verifier {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Verifier{provider: cfg.Provider, siteKey: cfg.SiteKey, secret: cfg.Secret,
		verifyURL: cfg.EffectiveVerifyURL(), timeout: timeout, client: client}
}

// SiteKey is the public key clients show the widget with.
func (v *Verifier) SiteKey() string { return v.siteKey }

// Verify asks the provider whether response is a solved captcha. remoteIP
// is the client's address, sent to reCAPTCHA (the others do not need it).
// A refused or empty response is false with no error; a check that could
// not be made wraps ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, response, remoteIP string) (bool, error) {
	if response == "" {
		return false, nil
	}
	form := url.Values{"secret": {v.secret}, "response": {response}}
	if v.provider == config.CaptchaRecaptcha && remoteIP != "" {
		form.Set("remoteip", remoteIP)
	}
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.verifyURL, strings.NewReader(form.Encode()))
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := v.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxVerdictBytes))
	if err != nil {
		return false, fmt.Errorf("%w: reading its answer: %v", ErrUnavailable, err)
	}
	if res.StatusCode != http.StatusOK {
		return false, fmt.Errorf("%w: it answered %s", ErrUnavailable, res.Status)
	}
	var verdict struct {
		Success *bool `json:"success"`
	}
	if err := json.Unmarshal(body, &verdict); err != nil || verdict.Success == nil {
		return false, fmt.Errorf("%w: its answer is not a verdict", ErrUnavailable)
	}
	return *verdict.Success, nil
}
