package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"
)

// AppServiceDelivery tunes how transactions reach application services
// (the registration files themselves are listed in app_services).
type AppServiceDelivery struct {
	// Timeout bounds one request to an application service.
	Timeout time.Duration `yaml:"timeout" env:"APP_SERVICE_TIMEOUT"`
	// MaxBackoff caps the wait between retries of a transaction an
	// application service did not accept; retries start at a second (or
	// MaxBackoff, if smaller) and double.
	MaxBackoff time.Duration `yaml:"max_backoff" env:"APP_SERVICE_MAX_BACKOFF"`
	// MaxEvents caps the events of one transaction.
	MaxEvents int `yaml:"max_events" env:"APP_SERVICE_MAX_EVENTS"`
}

func defaultAppServiceDelivery() AppServiceDelivery {
	return AppServiceDelivery{Timeout: 30 * time.Second, MaxBackoff: 5 * time.Minute, MaxEvents: 100}
}

// AppServiceNamespace is one entry of a registration's users, aliases or
// rooms list. Regex is matched against the whole ID, as a prefix-anchored
// pattern like the reference server (a registration may anchor the end
// itself with $).
type AppServiceNamespace struct {
	Exclusive bool   `yaml:"exclusive"`
	Regex     string `yaml:"regex"`
	re        *regexp.Regexp
}

// Matches reports whether id falls in the namespace.
func (n AppServiceNamespace) Matches(id string) bool {
	return n.re != nil && n.re.MatchString(id)
}

// AppServiceNamespaces are a registration's three kinds of namespace.
type AppServiceNamespaces struct {
	Users   []AppServiceNamespace `yaml:"users"`
	Aliases []AppServiceNamespace `yaml:"aliases"`
	Rooms   []AppServiceNamespace `yaml:"rooms"`
}

// AppServiceRegistration is one registration file, in the format bridges
// generate. Unknown keys are ignored: bridges add their own.
type AppServiceRegistration struct {
	ID              string               `yaml:"id"`
	URL             *string              `yaml:"url"`
	ASToken         string               `yaml:"as_token"`
	HSToken         string               `yaml:"hs_token"`
	SenderLocalpart string               `yaml:"sender_localpart"`
	Namespaces      AppServiceNamespaces `yaml:"namespaces"`
	// RateLimited: nil means true, as in the spec.
	RateLimited *bool    `yaml:"rate_limited"`
	Protocols   []string `yaml:"protocols"`
	// ReceiveEphemeral asks for typing, receipts and presence, and the
	// to-device messages of the service's users (MSC4203), in
	// transactions; the unstable key of MSC2409 is read too.
	ReceiveEphemeral         bool `yaml:"receive_ephemeral"`
	ReceiveEphemeralUnstable bool `yaml:"de.sorunome.msc2409.push_ephemeral"`
	// DeviceMasquerading is MSC3202 (device_id masquerading, device-list
	// changes in transactions).
	DeviceMasquerading bool `yaml:"org.matrix.msc3202"`
	// ManagesDevices is MSC4190: the service creates and deletes its
	// users' devices itself (PUT and DELETE /devices, without UIA).
	ManagesDevices bool `yaml:"io.element.msc4190"`

	// File is where the registration was read from, for messages.
	File string `yaml:"-"`
}

// PushesEphemeral reports whether the service asked for ephemeral events.
func (r AppServiceRegistration) PushesEphemeral() bool {
	return r.ReceiveEphemeral || r.ReceiveEphemeralUnstable
}

// IsRateLimited reports whether the service's users are rate limited.
func (r AppServiceRegistration) IsRateLimited() bool {
	return r.RateLimited == nil || *r.RateLimited
}

// HasURL reports whether the service takes transactions and queries.
func (r AppServiceRegistration) HasURL() bool { return r.URL != nil && *r.URL != "" }

// LoadAppServices reads and checks every registration file of
// app_services, as a whole: ids and tokens must be unique across files.
func (c Config) LoadAppServices() ([]AppServiceRegistration, error) {
	var regs []AppServiceRegistration
	var errs []error
	for _, path := range c.AppServices {
		reg, err := readAppService(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		regs = append(regs, reg)
	}
	errs = append(errs, checkAppServicesTogether(regs)...)
	if len(errs) != 0 {
		return nil, errors.Join(errs...)
	}
	return regs, nil
}

func readAppService(path string) (AppServiceRegistration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return AppServiceRegistration{}, fmt.Errorf("app_services: reading %w", err)
	}
	var reg AppServiceRegistration
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&reg); err != nil {
		return AppServiceRegistration{}, fmt.Errorf("app_services: %s is not a valid registration file: %w", path, err)
	}
	reg.File = path
	if errs := reg.validate(); len(errs) != 0 {
		return AppServiceRegistration{}, errors.Join(errs...)
	}
	return reg, nil
}

// validate checks one registration and compiles its namespaces.
func (r *AppServiceRegistration) validate() []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("app_services: %s: "+format, append([]any{r.File}, args...)...))
	}
	if r.ID == "" {
		add("id is missing")
	}
	if r.ASToken == "" {
		add("as_token is missing")
	}
	if r.HSToken == "" {
		add("hs_token is missing")
	}
	if r.SenderLocalpart == "" {
		add("sender_localpart is missing")
	} else if !senderLocalpartRE.MatchString(r.SenderLocalpart) {
		add("sender_localpart %q is not a valid localpart (a-z, 0-9, ._=-/+)", r.SenderLocalpart)
	}
	if r.URL != nil && *r.URL != "" {
		if u, err := url.Parse(*r.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("url %q is not an http(s) URL (or null for a service that takes no transactions)", *r.URL)
		}
	}
	for _, kind := range []struct {
		name string
		list []AppServiceNamespace
	}{{"users", r.Namespaces.Users}, {"aliases", r.Namespaces.Aliases}, {"rooms", r.Namespaces.Rooms}} {
		for i := range kind.list {
			ns := &kind.list[i]
			if ns.Regex == "" {
				add("namespaces.%s[%d].regex is missing", kind.name, i)
				continue
			}
			re, err := regexp.Compile(`^(?:` + ns.Regex + `)`)
			if err != nil {
				add("namespaces.%s[%d].regex %q is not a valid regular expression: %v", kind.name, i, ns.Regex, err)
				continue
			}
			ns.re = re
		}
	}
	return errs
}

var senderLocalpartRE = regexp.MustCompile(`^[a-z0-9._=/+-]+$`)

// checkAppServicesTogether refuses registrations that would be confused
// with one another: the same id, or a token used twice (as_token picks
// the service, hs_token proves the server to it).
func checkAppServicesTogether(regs []AppServiceRegistration) []error {
	var errs []error
	ids := map[string]string{}
	tokens := map[string]string{}
	for _, r := range regs {
		if prev, ok := ids[r.ID]; ok {
			errs = append(errs, fmt.Errorf("app_services: %s and %s both have id %q: ids must be unique", prev, r.File, r.ID))
		}
		ids[r.ID] = r.File
		for _, t := range []string{r.ASToken, r.HSToken} {
			if prev, ok := tokens[t]; ok {
				// Never the token itself in a message.
				errs = append(errs, fmt.Errorf("app_services: %s reuses a token of %s: every as_token and hs_token must be unique", r.File, prev))
				continue
			}
			tokens[t] = r.File
		}
	}
	return errs
}

func (d AppServiceDelivery) validate() []error {
	var errs []error
	if d.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("app_service_delivery.timeout must be positive, not %s", d.Timeout))
	}
	if d.MaxBackoff <= 0 {
		errs = append(errs, fmt.Errorf("app_service_delivery.max_backoff must be positive, not %s", d.MaxBackoff))
	}
	if d.MaxEvents < 1 {
		errs = append(errs, fmt.Errorf("app_service_delivery.max_events must be at least 1, not %d", d.MaxEvents))
	}
	return errs
}
