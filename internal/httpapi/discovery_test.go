package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// /versions claims a spec version only when every endpoint it and the
// earlier versions require is in the route table: a table that lacks one
// of v1.7's endpoints stops at v1.6, whatever later versions require.
func TestVersionsAdvertiseOnlyServedVersions(t *testing.T) {
	noop := func(http.ResponseWriter, *http.Request) error { return nil }
	var served []Route
	var want []string
	for _, v := range specVersions {
		reqs := v.requires
		if v.version == "v1.7" {
			reqs = nil // v1.7's endpoint is missing
		}
		for _, req := range reqs {
			method, path, _ := strings.Cut(req, " ")
			served = append(served, Route{Method: method, Path: path, Access: Open, Handle: noop})
		}
		if !slices.Contains(want, "v1.6") {
			want = append(want, v.version)
		}
	}
	a := New(Deps{}, served)
	got := a.AdvertisedVersions()
	if !slices.Equal(got, want) {
		t.Errorf("advertised %v, want %v", got, want)
	}
}
