package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// accessTokenPrefix makes leaked Foyer tokens recognisable to scanners.
const accessTokenPrefix = "foyer_"

// NewAccessToken returns a fresh random token (32 bytes of entropy) and the
// hash under which it is stored; the token itself is never stored.
func NewAccessToken() (token, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	token = accessTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// refreshTokenPrefix tells a refresh token from an access token at a
// glance, in a client's storage or a leak report.
const refreshTokenPrefix = "foyer_refresh_"

// NewRefreshToken returns a fresh random refresh token and its hash, as
// NewAccessToken does.
func NewRefreshToken() (token, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	token = refreshTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is the lookup key for a token: tokens are long and random, so
// a fast hash without salt is enough.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewDeviceID returns a random device ID of ten capital letters.
func NewDeviceID() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// RandomString returns n URL-safe random characters, for session IDs and
// registration tokens.
func RandomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
