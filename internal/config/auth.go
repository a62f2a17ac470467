package config

import (
	"fmt"
	"time"
)

// Auth is the auth: section: how long the credentials a client holds
// stay good.
type Auth struct {
	// RefreshableAccessTokenLifetime is the lifetime of an access token
	// issued with a refresh token (to a client that sends
	// `refresh_token: true` to /login or /register); 0 issues no refresh
	// tokens, so such clients get access tokens that do not expire.
	// Clients that do not ask keep access tokens that never expire.
	RefreshableAccessTokenLifetime time.Duration `yaml:"refreshable_access_token_lifetime" env:"AUTH_REFRESHABLE_ACCESS_TOKEN_LIFETIME"`
}

// defaultAuth is the auth section of Default: five minutes, as the
// reference server.
func defaultAuth() Auth {
	return Auth{RefreshableAccessTokenLifetime: 5 * time.Minute}
}

// validate returns the problems with the section.
func (a Auth) validate() []error {
	if a.RefreshableAccessTokenLifetime < 0 {
		return []error{fmt.Errorf("auth.refreshable_access_token_lifetime must not be negative (0 issues no refresh tokens; the default is 5m)")}
	}
	return nil
}
