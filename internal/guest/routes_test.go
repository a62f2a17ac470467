package guest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpecRoutesMatchTheGuestModule_G12 checks SpecRoutes lists exactly
// the endpoints the spec's guest access module allows (G-12), kept in
// testdata beside this test.
func TestSpecRoutesMatchTheGuestModule_G12(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("testdata", "spec-guest-routes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[Route]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		method, path, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("testdata line %q is not METHOD PATH", line)
		}
		if !strings.HasPrefix(path, "/_matrix/") {
			path = "/_matrix/client/v3" + path
		}
		want[Route{method, path}] = true
	}
	if len(want) < 20 {
		t.Fatalf("parsed only %d rows from G-12", len(want))
	}
	have := map[Route]bool{}
	for _, r := range SpecRoutes {
		have[r] = true
		if !want[r] {
			t.Errorf("SpecRoutes has %v, which G-12 does not list", r)
		}
	}
	for r := range want {
		if !have[r] {
			t.Errorf("G-12 lists %v, missing from SpecRoutes", r)
		}
	}
}

func TestExtensionsAreNotSpecRoutes_G14(t *testing.T) {
	spec := map[Route]bool{}
	for _, r := range SpecRoutes {
		spec[r] = true
	}
	for _, r := range Extensions {
		if spec[r] {
			t.Errorf("%v is in both lists", r)
		}
	}
	if !Allowed("GET", "/_matrix/client/v3/sync") || Allowed("POST", "/_matrix/client/v3/createRoom") {
		t.Fatal("Allowed is wrong")
	}
}
