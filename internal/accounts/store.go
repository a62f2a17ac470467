package accounts

import "context"

// NewAccount is everything created together when an account registers.
type NewAccount struct {
	User User
	// DisplayName is the initial profile name.
	DisplayName string
	// Device and Tokens are empty when no login is wanted.
	Device *Device
	Tokens LoginTokens
	// RegistrationToken, when set, is consumed in the same transaction;
	// the registration fails with ErrTokenExhausted if it has no use left.
	RegistrationToken string
	// RenameOf, when set, is the guest this account continues (a rename
	// upgrade): claimed and recorded in the same transaction, or
	// ErrNotGuest.
	RenameOf string
}

// Upgrade turns a guest into a full user or named guest in place.
type Upgrade struct {
	UserID       string
	Kind         Kind
	PasswordHash string
	// Device and Tokens: the login issued by the upgrade. Device may
	// name the guest's existing device, which is then kept with its keys.
	Device            *Device
	Tokens            LoginTokens
	RegistrationToken string
}

// Store is the persistence the accounts service needs. Implementations
// live in internal/storage and are tested on SQLite and PostgreSQL.
type Store interface {
	// NextGuestNumber returns a fresh number for a guest localpart.
	NextGuestNumber(ctx context.Context) (int64, error)
	// CreateAccount fails with ErrUserInUse if the user ID is taken.
	CreateAccount(ctx context.Context, a NewAccount) error
	// UpgradeGuest fails with ErrNotGuest unless the account is a live
	// guest that no rename upgrade has claimed.
	UpgradeGuest(ctx context.Context, u Upgrade) error
	GetUser(ctx context.Context, userID string) (User, error)
	// SessionByTokenHash returns ErrNotFound for unknown tokens and for
	// tokens of deactivated accounts.
	SessionByTokenHash(ctx context.Context, hash string) (TokenSession, error)
	// MarkTokenUsed records the first use of an access token issued with
	// a refresh token, and revokes the refresh token (and its access
	// token) that the new pair replaced.
	MarkTokenUsed(ctx context.Context, hash string) error
	// RotateRefreshToken replaces the refresh token oldHash with the new
	// tokens, bound to the same device, and returns that device's user
	// and ID. ErrNotFound for a refresh token that is unknown or revoked;
	// ErrRefreshTokenUsed for one whose successor has been used.
	RotateRefreshToken(ctx context.Context, oldHash string, tokens LoginTokens, now int64) (userID, deviceID string, err error)

	// AddLogin creates the device if new (or keeps it) and stores new
	// tokens for it; tokens previously issued to that device, refresh
	// tokens included, are revoked.
	AddLogin(ctx context.Context, d Device, tokens LoginTokens) error
	ListDevices(ctx context.Context, userID string) ([]Device, error)
	GetDevice(ctx context.Context, userID, deviceID string) (Device, error)
	RenameDevice(ctx context.Context, userID, deviceID, displayName string) error
	// DeleteDevices removes the devices and their tokens.
	DeleteDevices(ctx context.Context, userID string, deviceIDs []string) error
	// DeleteOtherDevices removes every device but keep (keep may be "").
	DeleteOtherDevices(ctx context.Context, userID, keep string) error
	TouchDevice(ctx context.Context, userID, deviceID, ip, userAgent string, ts int64) error

	// SetPassword sets a user's password hash and kind; with
	// logOutOthers it removes every device but keep in the same
	// transaction, so a new password never leaves old sessions behind.
	SetPassword(ctx context.Context, userID, hash string, kind Kind, logOutOthers bool, keep string) error
	// Deactivate locks the account and ends its sessions; with erasedTS
	// set, in the same write, the user's messages are marked erased.
	Deactivate(ctx context.Context, userID string, erasedTS int64) error
	// ErasedAmong returns which of userIDs had their messages erased.
	ErasedAmong(ctx context.Context, userIDs []string) (map[string]bool, error)

	// GetProfile returns ErrNotFound for unknown users.
	GetProfile(ctx context.Context, userID string) (Profile, error)
	SetDisplayName(ctx context.Context, userID, name string) error
	SetAvatarURL(ctx context.Context, userID, url string) error

	CreateRegistrationToken(ctx context.Context, t RegistrationToken) error
	// RegistrationTokenUsable reports whether the token exists, has not
	// expired and has uses left.
	RegistrationTokenUsable(ctx context.Context, token string, now int64) (bool, error)
}

// RegistrationToken gates registration in token mode.
type RegistrationToken struct {
	Token       string
	UsesAllowed *int64 // nil: unlimited
	ExpiryTS    *int64 // nil: never
	Completed   int64
	CreatedTS   int64
}

// Profile is a user's public profile; empty strings mean unset.
type Profile struct {
	DisplayName string
	AvatarURL   string
}
