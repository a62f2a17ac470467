package matrixevents

import (
	"slices"
	"testing"

	gmsl "github.com/matrix-org/gomatrixserverlib"
)

func TestSupportedVersions(t *testing.T) {
	got := SupportedVersions()
	want := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}
	if !slices.Equal(got, want) {
		t.Fatalf("SupportedVersions() = %v, want %v", got, want)
	}
	if !IsSupported(DefaultRoomVersion) {
		t.Fatal("default version unsupported")
	}
	for _, v := range []string{"", "0", "13", "org.matrix.msc4014", "org.matrix.hydra.11"} {
		if IsSupported(v) {
			t.Errorf("IsSupported(%q) = true", v)
		}
		if _, ok := Features(v); ok {
			t.Errorf("Features(%q) ok", v)
		}
	}
}

// The numeric thresholds must agree with what the library enforces.
func TestFeaturesMatchLibrary(t *testing.T) {
	for _, v := range SupportedVersions() {
		impl := gmsl.MustGetRoomVersion(gmsl.RoomVersion(v))
		libKnock := impl.CheckKnockingAllowed(v, "@a:x", "@a:x", "knock", "leave") == nil
		if SupportsKnocking(v) != libKnock {
			t.Errorf("v%s knocking: ours %v, library %v", v, SupportsKnocking(v), libKnock)
		}
		if SupportsRestrictedJoins(v) != (impl.CheckRestrictedJoinsAllowed() == nil) {
			t.Errorf("v%s restricted joins disagree", v)
		}
	}
	for v, want := range map[string][2]bool{"6": {false, false}, "7": {true, false}, "8": {true, true}, "11": {true, true}} {
		if SupportsKnocking(v) != want[0] || SupportsRestrictedJoins(v) != want[1] {
			t.Errorf("v%s: knocking %v restricted %v", v, SupportsKnocking(v), SupportsRestrictedJoins(v))
		}
	}
	f, _ := Features("12")
	if !f.RoomIDFromCreateEvent || !f.PrivilegedCreators || !f.RedactsInContent || f.CreatorInCreateContent {
		t.Errorf("v12 features %+v", f)
	}
	f, _ = Features("10")
	if f.RoomIDFromCreateEvent || f.RedactsInContent || !f.CreatorInCreateContent || !f.KnockRestricted {
		t.Errorf("v10 features %+v", f)
	}
}
