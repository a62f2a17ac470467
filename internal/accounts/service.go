package accounts

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Service implements account operations over a Store.
type Service struct {
	store          Store
	serverName     string
	hasher         *PasswordHasher
	minPasswordLen int
	now            func() time.Time
	touches        deviceTouches
	// refreshableLifetime is the lifetime of access tokens issued with a
	// refresh token; 0 issues no refresh tokens (refresh.go).
	refreshableLifetime time.Duration
	// exclusive reports user IDs an application service claims for itself
	// (appservice.go); nil: none.
	exclusive func(userID string) bool
}

// NewService builds the accounts service.
func NewService(store Store, serverName string, hasher *PasswordHasher, minPasswordLen int) *Service {
	return &Service{store: store, serverName: serverName, hasher: hasher, minPasswordLen: minPasswordLen, now: time.Now}
}

func (s *Service) nowMS() int64 { return s.now().UnixMilli() }

// RegisterGuest creates an anonymous guest with a numeric localpart taken
// from a database sequence, a device of its own and an access token
// (G-4..G-8). deviceDisplayName is the one client field honoured.
func (s *Service) RegisterGuest(ctx context.Context, deviceDisplayName string) (Credentials, error) {
	n, err := s.store.NextGuestNumber(ctx)
	if err != nil {
		return Credentials{}, err
	}
	// A number an application service claims is skipped.
	for tries := 0; s.isExclusive(UserID(strconv.FormatInt(n, 10), s.serverName)); tries++ {
		if tries == 100 {
			return Credentials{}, ErrExclusive
		}
		if n, err = s.store.NextGuestNumber(ctx); err != nil {
			return Credentials{}, err
		}
	}
	lp := strconv.FormatInt(n, 10)
	now := s.nowMS()
	// Guests never get a refresh token, as in Synapse: their access token
	// lives as long as the guest.
	creds, tokens := s.issueTokens(false, now)
	dev := &Device{UserID: UserID(lp, s.serverName), DeviceID: NewDeviceID(), DisplayName: deviceDisplayName, LastSeenTS: now}
	err = s.store.CreateAccount(ctx, NewAccount{
		User:   User{UserID: dev.UserID, Localpart: lp, Kind: KindGuest, CreatedTS: now, LastSeenTS: now},
		Device: dev,
		Tokens: tokens,
	})
	if err != nil {
		return Credentials{}, err
	}
	creds.UserID, creds.DeviceID = dev.UserID, dev.DeviceID
	return creds, nil
}

// RegisterRequest is a full or named-guest registration, or a guest
// upgrade when Guest is set.
type RegisterRequest struct {
	Username          string // empty: the server picks one
	Password          string // empty: a named guest (no password)
	DeviceID          string
	DeviceDisplayName string
	InhibitLogin      bool
	// RefreshToken: the client asked for a refresh token (and so for an
	// access token that expires).
	RefreshToken      bool
	RegistrationToken string
	// Guest is the session of guest_access_token, for an upgrade.
	Guest *Session
	Admin bool
	// DisplayName is the new account's profile name; empty means its
	// localpart. An upgrade keeps the guest's profile and ignores it.
	DisplayName string
	// RenameOf is the guest a rename upgrade continues as this account:
	// in the transaction that creates the account, the guest is claimed
	// (ErrNotGuest unless it is a live guest not upgraded or claimed yet)
	// and the rename recorded (internal/guest/rename.go).
	RenameOf string
	// AppService: an application service registers a user of its
	// namespace (checked by the caller): a full user without a password,
	// who logs in only through the service.
	AppService bool
}

// CheckUsername validates a requested username and, unless it belongs to
// the upgrading guest, that it is free. It returns the normalised
// localpart. It runs before user-interactive auth so the client learns of
// a bad name first.
func (s *Service) CheckUsername(ctx context.Context, username string, guest *Session) (string, error) {
	lp, err := s.requestedLocalpart(username, guest)
	if err != nil || guest != nil {
		return lp, err
	}
	if s.isExclusive(UserID(lp, s.serverName)) {
		return "", ErrExclusive
	}
	_, err = s.store.GetUser(ctx, UserID(lp, s.serverName))
	switch {
	case err == nil:
		return "", ErrUserInUse
	case errors.Is(err, ErrNotFound):
		return lp, nil
	default:
		return "", err
	}
}

// requestedLocalpart validates a requested username without reading the
// store: an upgrade must keep the guest's own localpart.
func (s *Service) requestedLocalpart(username string, guest *Session) (string, error) {
	if guest != nil {
		lp, _, _ := SplitUserID(guest.UserID)
		if username == lp {
			return lp, nil
		}
		return "", ErrUpgradeMismatch
	}
	return NormaliseLocalpart(username, s.serverName)
}

// ErrUpgradeMismatch: the username of an upgrade is not the guest's own.
var ErrUpgradeMismatch = errors.New("username does not match the guest account being upgraded")

// CheckPasswordPolicy validates a new password.
func (s *Service) CheckPasswordPolicy(password string) error {
	if len(password) < s.minPasswordLen {
		return fmt.Errorf("%w: use at least %d characters", ErrWeakPassword, s.minPasswordLen)
	}
	if len(password) > 512 {
		return fmt.Errorf("%w: use at most 512 characters", ErrWeakPassword)
	}
	return nil
}

// Register creates a full user (with a password) or a named guest
// (without), or upgrades req.Guest in place keeping its user ID.
func (s *Service) Register(ctx context.Context, req RegisterRequest) (Credentials, error) {
	var lp string
	var err error
	if req.Username == "" && req.Guest == nil {
		lp = "user-" + NewDeviceIDLower()
	} else if req.AppService {
		if lp, err = NormaliseAppServiceLocalpart(req.Username, s.serverName); err != nil {
			return Credentials{}, err
		}
	} else if lp, err = s.requestedLocalpart(req.Username, req.Guest); err != nil {
		// A taken name is refused by CreateAccount, in its transaction.
		return Credentials{}, err
	}
	if !req.AppService && s.isExclusive(UserID(lp, s.serverName)) {
		// Upgrades and renames too: a guest made before the service was
		// registered cannot take its namespace.
		return Credentials{}, ErrExclusive
	}
	kind, hash := KindNamedGuest, ""
	if req.AppService {
		kind = KindUser
	} else if req.Password != "" {
		if err := s.CheckPasswordPolicy(req.Password); err != nil {
			return Credentials{}, err
		}
		if hash, err = s.hasher.Hash(ctx, req.Password); err != nil {
			return Credentials{}, err
		}
		kind = KindUser
	}
	userID := UserID(lp, s.serverName)
	now := s.nowMS()
	var dev *Device
	var creds Credentials
	var tokens LoginTokens
	if !req.InhibitLogin {
		deviceID := req.DeviceID
		if deviceID == "" && req.Guest != nil {
			// Keep the guest's device so its encryption keys survive (G-39).
			deviceID = req.Guest.DeviceID
		}
		if deviceID == "" {
			deviceID = NewDeviceID()
		}
		creds, tokens = s.issueTokens(req.RefreshToken, now)
		dev = &Device{UserID: userID, DeviceID: deviceID, DisplayName: req.DeviceDisplayName, LastSeenTS: now}
	}
	if req.Guest != nil {
		err = s.store.UpgradeGuest(ctx, Upgrade{
			UserID: userID, Kind: kind, PasswordHash: hash,
			Device: dev, Tokens: tokens, RegistrationToken: req.RegistrationToken,
		})
	} else {
		displayName := lp
		if req.DisplayName != "" {
			displayName = req.DisplayName
		}
		err = s.store.CreateAccount(ctx, NewAccount{
			User: User{
				UserID: userID, Localpart: lp, Kind: kind, PasswordHash: hash,
				IsAdmin: req.Admin, CreatedTS: now, LastSeenTS: now,
			},
			DisplayName:       displayName,
			Device:            dev,
			Tokens:            tokens,
			RegistrationToken: req.RegistrationToken,
			RenameOf:          req.RenameOf,
		})
	}
	if err != nil {
		return Credentials{}, err
	}
	creds.UserID = userID
	if dev != nil {
		creds.DeviceID = dev.DeviceID
	}
	return creds, nil
}

// NewDeviceIDLower is a random lower-case name suffix.
func NewDeviceIDLower() string {
	id := []byte(NewDeviceID())
	for i := range id {
		id[i] += 'a' - 'A'
	}
	return string(id)
}

// ResolveUser turns what a client typed at login (a localpart or a full
// user ID) into a local user ID. The localpart is lower-cased, as
// registration stores it, so "Alice" and "@Alice:server" log in as
// @alice, as on Synapse.
func (s *Service) ResolveUser(user string) (string, bool) {
	if lp, server, ok := SplitUserID(user); ok {
		return UserID(strings.ToLower(lp), server), server == s.serverName
	}
	return UserID(strings.ToLower(user), s.serverName), user != ""
}

// CheckPassword verifies a local user's password. Guests, named guests
// without a password and deactivated users always fail (G-40).
func (s *Service) CheckPassword(ctx context.Context, userID, password string) (User, error) {
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	if u.Deactivated {
		return User{}, ErrDeactivated
	}
	if u.PasswordHash == "" || password == "" {
		return User{}, ErrBadCredentials
	}
	ok, err := s.hasher.Verify(ctx, u.PasswordHash, password)
	if err != nil {
		return User{}, err
	}
	if !ok {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// Login checks a password and issues a token bound to a device, and a
// refresh token with it when wantRefresh.
func (s *Service) Login(ctx context.Context, user, password, deviceID, deviceDisplayName string, wantRefresh bool) (Credentials, error) {
	userID, local := s.ResolveUser(user)
	if !local {
		return Credentials{}, ErrBadCredentials
	}
	u, err := s.CheckPassword(ctx, userID, password)
	if err != nil {
		return Credentials{}, err
	}
	return s.NewLogin(ctx, u.UserID, deviceID, deviceDisplayName, wantRefresh)
}

// NewLogin issues a token for a device of userID, creating the device if
// new; earlier tokens of that device are revoked. It checks no password:
// callers have proved the right to it otherwise (a rename upgrade
// finished on retry, by the guest that asked for it). wantRefresh asks
// for a refresh token as well.
func (s *Service) NewLogin(ctx context.Context, userID, deviceID, deviceDisplayName string, wantRefresh bool) (Credentials, error) {
	if deviceID == "" {
		deviceID = NewDeviceID()
	}
	now := s.nowMS()
	creds, tokens := s.issueTokens(wantRefresh, now)
	err := s.store.AddLogin(ctx, Device{UserID: userID, DeviceID: deviceID, DisplayName: deviceDisplayName, LastSeenTS: now}, tokens)
	if err != nil {
		return Credentials{}, err
	}
	creds.UserID, creds.DeviceID = userID, deviceID
	return creds, nil
}

// GetUser returns a local account, deactivated ones included, or
// ErrNotFound.
func (s *Service) GetUser(ctx context.Context, userID string) (User, error) {
	return s.store.GetUser(ctx, userID)
}

// GetProfile returns a user's profile, or ErrNotFound.
func (s *Service) GetProfile(ctx context.Context, userID string) (Profile, error) {
	return s.store.GetProfile(ctx, userID)
}

// Authenticate resolves an access token: ErrNotFound for one that is
// unknown or revoked, ErrTokenExpired for one whose lifetime is over (the
// client should refresh it). The first use of a token issued by a
// refresh revokes the tokens it replaced.
func (s *Service) Authenticate(ctx context.Context, token string) (Session, error) {
	return s.authenticate(ctx, token, false)
}

// AuthenticateExpired is Authenticate for the few routes that accept a
// token past its lifetime (logout).
func (s *Service) AuthenticateExpired(ctx context.Context, token string) (Session, error) {
	return s.authenticate(ctx, token, true)
}

func (s *Service) authenticate(ctx context.Context, token string, expiredOK bool) (Session, error) {
	hash := HashToken(token)
	t, err := s.store.SessionByTokenHash(ctx, hash)
	if err != nil {
		return Session{}, err
	}
	if !expiredOK && t.ExpiresTS != 0 && s.nowMS() >= t.ExpiresTS {
		return Session{}, ErrTokenExpired
	}
	if t.FirstUse {
		if err := s.store.MarkTokenUsed(ctx, hash); err != nil {
			return Session{}, err
		}
	}
	return t.Session, nil
}

// ChangePassword sets a new password; a named guest thereby becomes a full
// user. With logoutDevices every other device is logged out.
func (s *Service) ChangePassword(ctx context.Context, sess Session, newPassword string, logoutDevices bool) error {
	if err := s.CheckPasswordPolicy(newPassword); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return err
	}
	return s.store.SetPassword(ctx, sess.UserID, hash, KindUser, logoutDevices, sess.DeviceID)
}

// Logout ends one session: its token and its device go.
func (s *Service) Logout(ctx context.Context, sess Session) error {
	return s.store.DeleteDevices(ctx, sess.UserID, []string{sess.DeviceID})
}

// LogoutAll ends every session of the user.
func (s *Service) LogoutAll(ctx context.Context, userID string) error {
	return s.store.DeleteOtherDevices(ctx, userID, "")
}

// Deactivate locks the account for good and ends its sessions.
func (s *Service) Deactivate(ctx context.Context, userID string) error {
	return s.store.Deactivate(ctx, userID, 0)
}

// DeactivateAndErase is Deactivate for a user who also asks for their
// messages to be erased: from then on they are served redacted to anyone
// who was not in the room when they were sent (and to other servers), as
// Synapse does.
func (s *Service) DeactivateAndErase(ctx context.Context, userID string) error {
	return s.store.Deactivate(ctx, userID, s.nowMS())
}

// ErasedAmong returns which of userIDs had their messages erased.
func (s *Service) ErasedAmong(ctx context.Context, userIDs []string) (map[string]bool, error) {
	return s.store.ErasedAmong(ctx, userIDs)
}

// CreateRegistrationToken makes a token for token-mode registration.
// uses <= 0 means unlimited; expires <= 0 means never.
func (s *Service) CreateRegistrationToken(ctx context.Context, uses int64, expires time.Duration) (RegistrationToken, error) {
	t := RegistrationToken{Token: RandomString(16), CreatedTS: s.nowMS()}
	if uses > 0 {
		t.UsesAllowed = &uses
	}
	if expires > 0 {
		exp := s.now().Add(expires).UnixMilli()
		t.ExpiryTS = &exp
	}
	return t, s.store.CreateRegistrationToken(ctx, t)
}

// RegistrationTokenUsable checks a token without consuming it.
func (s *Service) RegistrationTokenUsable(ctx context.Context, token string) (bool, error) {
	if token == "" {
		return false, nil
	}
	return s.store.RegistrationTokenUsable(ctx, token, s.nowMS())
}
