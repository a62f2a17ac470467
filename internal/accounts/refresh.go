package accounts

import (
	"context"
	"errors"
	"time"
)

// LoginTokens are what a login stores: hashes only.
type LoginTokens struct {
	AccessHash string
	// RefreshHash is set when the client asked for a refresh token; the
	// access token then stops working at ExpiresTS (ms). Without one the
	// access token never expires.
	RefreshHash string
	ExpiresTS   int64
}

// TokenSession is a session as its access token is stored.
type TokenSession struct {
	Session
	// ExpiresTS is when the token stops working (ms); 0 is never.
	ExpiresTS int64
	// FirstUse: the token came with a refresh token and has not been
	// used yet, so this use retires the tokens it replaced.
	FirstUse bool
}

// ErrRefreshTokenUsed: the refresh token was replaced and its successor
// is in use.
var ErrRefreshTokenUsed = errors.New("refresh token already used")

// EnableRefreshTokens makes logins and registrations that ask for a
// refresh token get one, with access tokens that live lifetime; 0 (the
// default) issues none, so every access token lives until logout.
func (s *Service) EnableRefreshTokens(lifetime time.Duration) {
	s.refreshableLifetime = lifetime
}

// issueTokens makes the tokens of a new login: a refresh token as well
// when the client asked for one and the server issues them.
func (s *Service) issueTokens(wantRefresh bool, now int64) (Credentials, LoginTokens) {
	var c Credentials
	var t LoginTokens
	c.AccessToken, t.AccessHash = NewAccessToken()
	if wantRefresh && s.refreshableLifetime > 0 {
		c.RefreshToken, t.RefreshHash = NewRefreshToken()
		c.ExpiresInMS = s.refreshableLifetime.Milliseconds()
		t.ExpiresTS = now + c.ExpiresInMS
	}
	return c, t
}

// Refresh trades a refresh token for a new access token and a new refresh
// token on the same device. The old refresh token keeps working until
// the new tokens are first used, so a client that lost the answer can
// repeat the request. ErrNotFound for an unknown, revoked or spent
// refresh token; ErrRefreshTokenUsed for one replaced by tokens in use.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Credentials, error) {
	if s.refreshableLifetime <= 0 || refreshToken == "" {
		return Credentials{}, ErrNotFound
	}
	now := s.nowMS()
	creds, tokens := s.issueTokens(true, now)
	userID, deviceID, err := s.store.RotateRefreshToken(ctx, HashToken(refreshToken), tokens, now)
	if err != nil {
		return Credentials{}, err
	}
	creds.UserID, creds.DeviceID = userID, deviceID
	return creds, nil
}
