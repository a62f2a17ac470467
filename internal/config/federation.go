package config

import (
	"fmt"
	"strings"
)

// Federation configures the server-server API: whether it is served, what
// /.well-known/matrix/server delegates to, and which servers may talk to
// this one.
type Federation struct {
	// Enabled serves the federation and key routes; false answers them
	// 404 M_UNRECOGNIZED, as a server without a federation listener does.
	// OpenID userinfo and /.well-known/matrix/server are served either way.
	Enabled bool `yaml:"enabled" env:"FEDERATION_ENABLED"`
	// WellKnownServer is what /.well-known/matrix/server answers as
	// m.server ("host[:port]"); empty answers 404 M_NOT_FOUND.
	WellKnownServer string `yaml:"well_known_server" env:"FEDERATION_WELL_KNOWN_SERVER"`
	// AllowedServers, when not empty, are the only servers that may
	// federate with this one; BlockedServers may never.
	AllowedServers []string `yaml:"allowed_servers" env:"FEDERATION_ALLOWED_SERVERS"`
	BlockedServers []string `yaml:"blocked_servers" env:"FEDERATION_BLOCKED_SERVERS"`
}

// Permits reports whether serverName may federate with this server: not
// blocked, and listed when an allow list is set. Server names compare
// without regard to case, as DNS names do.
func (f Federation) Permits(serverName string) bool {
	for _, s := range f.BlockedServers {
		if strings.EqualFold(s, serverName) {
			return false
		}
	}
	if len(f.AllowedServers) == 0 {
		return true
	}
	for _, s := range f.AllowedServers {
		if strings.EqualFold(s, serverName) {
			return true
		}
	}
	return false
}

func (f Federation) validate() []error {
	var errs []error
	if w := f.WellKnownServer; w != "" && (strings.ContainsAny(w, "/ ") || strings.Contains(w, "://")) {
		errs = append(errs, fmt.Errorf("federation.well_known_server %q must be host[:port] (e.g. matrix.example.org:443), not a URL", w))
	}
	for _, list := range []struct {
		name  string
		names []string
	}{{"allowed_servers", f.AllowedServers}, {"blocked_servers", f.BlockedServers}} {
		for _, n := range list.names {
			if strings.TrimSpace(n) == "" || strings.ContainsAny(n, "/ ") {
				errs = append(errs, fmt.Errorf("federation.%s: %q is not a server name", list.name, n))
			}
		}
	}
	return errs
}
