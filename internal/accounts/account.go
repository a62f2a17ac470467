// Package accounts owns users, devices, access tokens, passwords and
// registration, for the three kinds of account: full users, guests and
// named guests (passwordless accounts with a chosen name).
package accounts

import "errors"

// Kind is stored with every account; guest rules key off it, never off
// event content or a missing password.
type Kind string

const (
	KindUser       Kind = "user"
	KindGuest      Kind = "guest"
	KindNamedGuest Kind = "named_guest"
)

// User is an account row.
type User struct {
	UserID       string
	Localpart    string
	Kind         Kind
	PasswordHash string // empty when the account has no password
	IsAdmin      bool
	Deactivated  bool
	CreatedTS    int64
	LastSeenTS   int64
}

// Device is one login of a user.
type Device struct {
	UserID      string
	DeviceID    string
	DisplayName string
	LastSeenTS  int64
	LastSeenIP  string
	// LastSeenUserAgent is the User-Agent of the device's last request.
	LastSeenUserAgent string
}

// Session is who an access token speaks for.
type Session struct {
	UserID   string
	DeviceID string
	Kind     Kind
	IsAdmin  bool
	// AppServiceID is set when an application service's as_token made
	// the request (for its sender or a user it masquerades as); such a
	// session may have no device.
	AppServiceID string
}

// IsGuest reports whether the session belongs to an anonymous guest.
func (s Session) IsGuest() bool { return s.Kind == KindGuest }

// Credentials are what registration and login hand back to the client.
type Credentials struct {
	UserID      string
	DeviceID    string
	AccessToken string // empty when inhibit_login was asked for
	// RefreshToken and ExpiresInMS are set when the client asked for a
	// refresh token (and the server issues them): the access token then
	// stops working after ExpiresInMS milliseconds.
	RefreshToken string
	ExpiresInMS  int64
}

// Errors the HTTP layer maps to Matrix error codes.
var (
	ErrNotFound  = errors.New("not found")
	ErrUserInUse = errors.New("user ID already taken")
	// ErrExclusive: an application service claims the user ID for itself.
	ErrExclusive       = errors.New("user ID is reserved by an application service")
	ErrInvalidUsername = errors.New("invalid username")
	ErrBadCredentials  = errors.New("invalid username or password")
	ErrDeactivated     = errors.New("account deactivated")
	ErrTokenExhausted  = errors.New("registration token is not valid")
	ErrWeakPassword    = errors.New("password too weak")
	ErrNotGuest        = errors.New("not a guest access token")
	// ErrTokenExpired: the access token was issued with a refresh token
	// and its lifetime is over; the client should refresh it.
	ErrTokenExpired = errors.New("access token expired")
)
