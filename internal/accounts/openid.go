package accounts

import (
	"context"
	"time"
)

// OpenIDTokenLifetime is how long an OpenID token proves its user.
const OpenIDTokenLifetime = time.Hour

// OpenIDStore keeps the hashes of OpenID tokens until they expire.
type OpenIDStore interface {
	// Create stores a token hash for userID until expiresTS, dropping
	// expired tokens on the way.
	Create(ctx context.Context, hash, userID string, now, expiresTS int64) error
	// UserFor returns the user of an unexpired token, or ErrNotFound.
	UserFor(ctx context.Context, hash string, now int64) (string, error)
}

// OpenIDTokens hands out OpenID tokens, which let a third party (Element
// Call's SFU service) learn which user it is talking to, and answers who
// a token belongs to. Only the tokens' hashes are stored.
type OpenIDTokens struct {
	store OpenIDStore
	now   func() time.Time
}

// NewOpenIDTokens builds the OpenID token service over store.
func NewOpenIDTokens(store OpenIDStore) *OpenIDTokens {
	return &OpenIDTokens{store: store, now: time.Now}
}

// Issue creates a token proving userID for OpenIDTokenLifetime.
func (o *OpenIDTokens) Issue(ctx context.Context, userID string) (string, error) {
	token, hash := NewAccessToken()
	now := o.now()
	if err := o.store.Create(ctx, hash, userID, now.UnixMilli(), now.Add(OpenIDTokenLifetime).UnixMilli()); err != nil {
		return "", err
	}
	return token, nil
}

// UserFor returns the user an unexpired token proves, or ErrNotFound.
func (o *OpenIDTokens) UserFor(ctx context.Context, token string) (string, error) {
	return o.store.UserFor(ctx, HashToken(token), o.now().UnixMilli())
}
