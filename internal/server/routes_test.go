package server

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"foyer/internal/config"
	"foyer/internal/guest"
	"foyer/internal/httpapi"
)

// newBareAPI mounts every surface over no services: enough to read the
// route table.
func newBareAPI(t *testing.T) *httpapi.API {
	t.Helper()
	return newAPI(config.Default(), slog.New(slog.DiscardHandler), &Services{}, context.Background(), nil)
}

// TestGuestColumnMatchesGuestPolicy_G12_G13_G14: a route is open to
// guest tokens (GuestOK, or OptionalAuth, which takes any valid token or
// none) exactly when the guest policy lists it; everything else is closed
// to guests by default.
func TestGuestColumnMatchesGuestPolicy_G12_G13_G14(t *testing.T) {
	a := newBareAPI(t)
	seen := map[string]bool{}
	for _, rt := range a.Routes() {
		key := rt.Method + " " + rt.Path
		if seen[key] {
			t.Errorf("route %s listed twice", key)
		}
		seen[key] = true
		allowed := guest.Allowed(rt.Method, rt.Path)
		guestsIn := rt.Access == httpapi.GuestOK || rt.Access == httpapi.OptionalAuth
		switch {
		case allowed && !guestsIn:
			t.Errorf("%s is on the guest list but marked %s", key, rt.Access)
		case !allowed && guestsIn:
			t.Errorf("%s is marked %s but is not on the guest list", key, rt.Access)
		}
	}
}

// The whole route table, every surface mounted, serves what /versions
// claims up to v1.15 at least (httpapi's own test checks that a version is
// claimed only when all it requires is served).
func TestVersionsAdvertiseServedVersions(t *testing.T) {
	advertised := newBareAPI(t).AdvertisedVersions()
	if !slices.Contains(advertised, "v1.6") || !slices.Contains(advertised, "v1.15") {
		t.Fatalf("advertised versions: %v", advertised)
	}
}

// A route with {userId} in its path acts on that user's resources, so it
// must be Own (the caller only) unless it is one of the few that look at
// other users; forgetting the flag would let anyone write anyone's data.
func TestUserIDRoutesAreOwnUnlessListed(t *testing.T) {
	a := newBareAPI(t)
	othersAllowed := map[string]bool{
		"GET /_matrix/client/v3/profile/{userId}":             true,
		"GET /_matrix/client/v3/profile/{userId}/displayname": true,
		"GET /_matrix/client/v3/profile/{userId}/avatar_url":  true,
		"GET /_matrix/client/v3/profile/{userId}/{keyName}":   true,
		"GET /_matrix/client/v3/presence/{userId}/status":     true,
		"GET /_matrix/client/v3/admin/whois/{userId}":         true, // the user or an admin, checked by the handler
		"POST /_foyer/admin/v1/guests/{userId}/deactivate":    true,
		// Signed by another server; the handler checks the user is of it.
		"GET /_matrix/federation/v1/make_join/{roomId}/{userId}":  true,
		"GET /_matrix/federation/v1/make_leave/{roomId}/{userId}": true,
		"GET /_matrix/federation/v1/make_knock/{roomId}/{userId}": true,
		// Signed by another server; read-only, of a local user.
		"GET /_matrix/federation/v1/user/devices/{userId}": true,
	}
	own := 0
	for _, rt := range a.Routes() {
		key := rt.Method + " " + rt.Path
		hasUser := strings.Contains(rt.Path, "{userId}")
		switch {
		case rt.Own && !hasUser:
			t.Errorf("%s is Own but has no {userId}", key)
		case hasUser && !rt.Own && !othersAllowed[key]:
			t.Errorf("%s takes a {userId} but is not Own", key)
		case rt.Own:
			own++
		}
	}
	if own < 15 {
		t.Errorf("only %d Own routes", own)
	}
}
