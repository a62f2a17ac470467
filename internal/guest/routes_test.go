package guest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSpecRoutesMatchRequirementsDocument_G12 reads the G-12 tables of the
// requirements document and checks SpecRoutes lists exactly those.
func TestSpecRoutesMatchRequirementsDocument_G12(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "docs", "guest-access-requirements.md"))
	if err != nil {
		t.Fatalf("the requirements document must sit beside the repository: %v", err)
	}
	text := string(doc)
	start := strings.Index(text, "**G-12")
	end := strings.Index(text, "**G-13")
	if start < 0 || end < start {
		t.Fatal("G-12 section not found")
	}
	row := regexp.MustCompile("(?m)^\\| (GET|PUT|POST|DELETE) \\| `([^`]+)`")
	want := map[Route]bool{}
	for _, m := range row.FindAllStringSubmatch(text[start:end], -1) {
		path := m[2]
		if !strings.HasPrefix(path, "/_matrix/") {
			path = "/_matrix/client/v3" + path
		}
		want[Route{m[1], path}] = true
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
