package config

import "time"

// TURN configures the TURN credentials handed out by /voip/turnServer, in
// the shared-secret scheme TURN servers such as coturn use
// (use-auth-secret). With no URIs the endpoint answers an empty object.
type TURN struct {
	URIs         []string      `yaml:"uris" env:"TURN_URIS"`
	SharedSecret string        `yaml:"shared_secret" env:"TURN_SHARED_SECRET"`
	TTL          time.Duration `yaml:"ttl" env:"TURN_TTL"`
}
