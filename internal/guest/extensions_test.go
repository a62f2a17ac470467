package guest

import (
	"slices"
	"testing"

	"foyer/internal/config"
)

// G-14: every extension can be switched off by a group name the
// configuration knows, and spec routes cannot.
func TestGuestExtensionGroupsCoverExtensions_G14(t *testing.T) {
	used := map[string]bool{}
	for _, r := range Extensions {
		g := ExtensionGroup(r.Method, r.Path)
		if g == "" {
			t.Errorf("extension %v has no group", r)
		}
		if !slices.Contains(config.GuestExtensionGroups, g) {
			t.Errorf("extension %v: group %q is not in config.GuestExtensionGroups", r, g)
		}
		used[g] = true
	}
	for _, g := range config.GuestExtensionGroups {
		if !used[g] {
			t.Errorf("config group %q names no extension", g)
		}
	}
	if len(extensionGroups) != len(Extensions) {
		t.Errorf("%d grouped routes, %d extensions", len(extensionGroups), len(Extensions))
	}
	for _, r := range SpecRoutes {
		if ExtensionGroup(r.Method, r.Path) != "" {
			t.Errorf("spec route %v is in an extension group", r)
		}
	}
}
