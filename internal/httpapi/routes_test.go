package httpapi

import (
	"slices"
	"strings"
	"testing"

	"foyer/internal/guest"
)

// TestGuestColumnMatchesGuestPolicy_G12_G13_G14: a route is open to
// guest tokens (GuestOK, or OptionalAuth, which takes any valid token or
// none) exactly when the guest policy lists it; everything else is closed
// to guests by default.
func TestGuestColumnMatchesGuestPolicy_G12_G13_G14(t *testing.T) {
	a, _ := newBareAPI(t)
	seen := map[string]bool{}
	for _, rt := range a.Routes() {
		key := rt.Method + " " + rt.Path
		if seen[key] {
			t.Errorf("route %s listed twice", key)
		}
		seen[key] = true
		allowed := guest.Allowed(rt.Method, rt.Path)
		guestsIn := rt.Access == GuestOK || rt.Access == OptionalAuth
		switch {
		case allowed && !guestsIn:
			t.Errorf("%s is on the guest list but marked %s", key, rt.Access)
		case !allowed && guestsIn:
			t.Errorf("%s is marked %s but is not on the guest list", key, rt.Access)
		}
	}
}

func TestVersionsAdvertiseOnlyServedVersions(t *testing.T) {
	a, _ := newBareAPI(t)
	have := map[string]bool{}
	for _, rt := range a.Routes() {
		have[rt.Method+" "+rt.Path] = true
	}
	advertised := a.AdvertisedVersions()
	// The route table serves everything up to v1.15 at least.
	if !slices.Contains(advertised, "v1.6") || !slices.Contains(advertised, "v1.15") {
		t.Fatalf("advertised versions: %v", advertised)
	}
	for i, v := range advertised {
		if specVersions[i].version != v {
			t.Fatalf("versions out of order: %v", advertised)
		}
		for j := 0; j <= i; j++ {
			for _, req := range specVersions[j].requires {
				if !have[req] {
					t.Errorf("%s advertised but %s is not served", v, req)
				}
			}
		}
	}
}

// A route with {userId} in its path acts on that user's resources, so it
// must be Own (the caller only) unless it is one of the few that look at
// other users; forgetting the flag would let anyone write anyone's data.
func TestUserIDRoutesAreOwnUnlessListed(t *testing.T) {
	a, _ := newBareAPI(t)
	othersAllowed := map[string]bool{
		"GET /_matrix/client/v3/profile/{userId}":             true,
		"GET /_matrix/client/v3/profile/{userId}/displayname": true,
		"GET /_matrix/client/v3/profile/{userId}/avatar_url":  true,
		"GET /_matrix/client/v3/profile/{userId}/{keyName}":   true,
		"GET /_matrix/client/v3/presence/{userId}/status":     true,
		"GET /_matrix/client/v3/admin/whois/{userId}":         true, // the user or an admin, checked by the handler
		"POST /_foyer/admin/v1/guests/{userId}/deactivate":    true,
	}
	own := 0
	for _, rt := range a.routes {
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
