package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// serverNameRE is the spec's server name grammar: a DNS name or IP
// literal with an optional port.
var serverNameRE = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z.-]+)(:[0-9]{1,5})?$`)

// Validate returns every problem with the configuration, each phrased as
// what the operator should do.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.ServerName == "" || !serverNameRE.MatchString(c.ServerName) {
		add("server_name %q is not a valid server name: use a DNS name such as example.org, optionally with :port", c.ServerName)
	}
	if c.Listen == "" && c.TLSListen == "" {
		add("nothing to listen on: set --listen HOST:PORT and/or --tls-listen HOST:PORT")
	}
	for _, l := range []struct{ name, addr string }{{"listen", c.Listen}, {"tls-listen", c.TLSListen}} {
		if l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			add("--%s %q is not HOST:PORT (for example 127.0.0.1:8008)", l.name, l.addr)
		}
	}
	if c.TLSListen != "" && (c.TLSCert == "" || c.TLSKey == "") {
		add("--tls-listen needs both --tls-cert FILE and --tls-key FILE")
	}
	if c.TLSListen == "" && (c.TLSCert != "" || c.TLSKey != "") {
		add("--tls-cert/--tls-key are given but --tls-listen is not: add --tls-listen HOST:PORT")
	}
	switch c.Registration {
	case RegistrationOpen, RegistrationToken, RegistrationClosed:
	default:
		add("registration %q is not one of open, token, closed", c.Registration)
	}
	if c.DataDir == "" {
		add("set --data-dir DIR: the server's signing key (and, without --database-url, its SQLite database) is kept there")
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			add("database_url must be a postgres://user:password@host/dbname URL; leave it empty for SQLite in the data dir")
		}
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		add("log_level %q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		add("log_format %q is not text or json", c.LogFormat)
	}
	if c.ShutdownTimeout <= 0 {
		add("shutdown_timeout must be positive, e.g. 10s")
	}
	if c.Limits.MaxRequestBytes < MaxEventBytes {
		add("limits.max_request_bytes must be at least %d", MaxEventBytes)
	}
	for name, r := range map[string]Rate{
		"guest_registration":    c.RateLimit.GuestRegistration,
		"registration":          c.RateLimit.Registration,
		"login":                 c.RateLimit.Login,
		"guest_link_redemption": c.RateLimit.GuestLinkRedemption,
		"guest_events":          c.RateLimit.GuestEvents,
		"guest_state_events":    c.RateLimit.GuestStateEvents,
		"guest_to_device":       c.RateLimit.GuestToDevice,
		"guest_writes":          c.RateLimit.GuestWrites,
		"guest_url_previews":    c.RateLimit.GuestURLPreviews,
	} {
		if r.PerSecond < 0 || (r.PerSecond > 0 && r.Burst < 1) {
			add("rate_limits.%s: per_second must be >= 0 and burst >= 1 when the limit is on", name)
		}
	}
	if c.Passwords.MemoryKiB < 8 || c.Passwords.Iterations < 1 || c.Passwords.MaxConcurrent < 1 {
		add("passwords: memory_kib >= 8, iterations >= 1 and max_concurrent >= 1 are required")
	}
	if c.Media.MaxUploadBytes < 1 {
		add("media.max_upload_bytes must be at least 1 (the default is 52428800, 50 MiB)")
	}
	// The outbound client bounds any one request at 2 minutes.
	if c.Media.RemoteFetchTimeout < time.Second || c.Media.RemoteFetchTimeout > 2*time.Minute {
		add("media.remote_fetch_timeout must be between 1s and 2m, the outbound client's bound on one request (the default is 60s)")
	}
	if c.Media.MaxConcurrentRemoteFetches < 1 {
		add("media.max_concurrent_remote_fetches must be at least 1 (the default is 8)")
	}
	if c.Media.URLPreviewMaxPageBytes < 1 {
		add("media.url_preview_max_page_bytes must be at least 1 (the default is 10485760, 10 MiB)")
	}
	if c.Media.URLPreviewMaxImageBytes < 1 {
		add("media.url_preview_max_image_bytes must be at least 1 (the default is 10485760, 10 MiB)")
	}
	if c.Media.URLPreviewTimeout < time.Second || c.Media.URLPreviewTimeout > 2*time.Minute {
		add("media.url_preview_timeout must be between 1s and 2m, the outbound client's bound on one request (the default is 10s)")
	}
	if c.Media.URLPreviewCacheFor < time.Second {
		add("media.url_preview_cache_for must be at least 1s (the default is 1h)")
	}
	if c.Media.FreezeLegacyAfter != "" {
		if _, err := time.Parse(time.RFC3339, c.Media.FreezeLegacyAfter); err != nil {
			add("media.freeze_legacy_after %q is not an RFC 3339 time such as 2024-09-01T00:00:00Z; leave it empty for no freeze", c.Media.FreezeLegacyAfter)
		}
	}
	errs = append(errs, c.GuestAccess.validate()...)
	errs = append(errs, c.Auth.validate()...)
	errs = append(errs, c.AccountLimits.validate(c.SyncLimits, c.Limits.MaxRequestBytes)...)
	errs = append(errs, c.HTTP.validate()...)
	errs = append(errs, c.Outbound.validate()...)
	errs = append(errs, c.Media.validateStore()...)
	errs = append(errs, c.Cluster.validate()...)
	errs = append(errs, c.Federation.validate()...)
	errs = append(errs, c.ServerNotices.validate()...)
	errs = append(errs, c.Push.validate()...)
	errs = append(errs, c.AppServiceDelivery.validate()...)
	if _, err := c.LoadAppServices(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.RegistrationRequireCaptcha:
		errs = append(errs, c.Captcha.validate("registration_require_captcha")...)
	case c.GuestAccess.RequireCaptcha:
		errs = append(errs, c.Captcha.validate("guest_access.require_captcha")...)
	default:
		errs = append(errs, c.Captcha.validate("")...)
	}
	if len(c.TURN.URIs) > 0 && c.TURN.SharedSecret == "" {
		add("turn.uris is set but turn.shared_secret is not: set the TURN server's static-auth-secret")
	}
	if c.Registration == RegistrationOpen && !c.RegistrationExplicit {
		for _, addr := range []string{c.Listen, c.TLSListen} {
			if addr != "" && !IsLoopback(addr) {
				add("registration would be open to anyone who can reach %s; pass --registration open (or registration: open in the config file) to mean it, or --registration token / closed", addr)
			}
		}
	}
	return errors.Join(errs...)
}

// IsLoopback reports whether a listen address only accepts local
// connections. An empty host means every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
