package httpapi

import (
	"testing"

	"foyer/internal/guest"
)

// TestGuestColumnMatchesGuestPolicy_G12_G13_G14: a route is GuestOK
// exactly when the guest policy lists it; everything else is closed to
// guests by default.
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
		switch {
		case allowed && rt.Access != GuestOK:
			t.Errorf("%s is on the guest list but marked %s", key, rt.Access)
		case !allowed && rt.Access == GuestOK:
			t.Errorf("%s is marked guest-ok but is not on the guest list", key)
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
