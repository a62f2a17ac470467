package matrixevents

import (
	"slices"
	"strconv"

	gmsl "github.com/matrix-org/gomatrixserverlib"
)

// DefaultRoomVersion is the version used for new rooms.
//
// Version 10, Synapse's default: its m.room.create content carries
// `creator`, which clients and test suites still read (v11 dropped it in
// favour of the event's sender). v11 and v12 remain available when a client
// asks for them with room_version. (v12 also derives the room ID from the
// create event and gives creators unlimited power outside power_levels,
// and not every federating server speaks it yet.)
const DefaultRoomVersion = "10"

// VersionFeatures describes what a room version changes that callers
// outside this package must take into account.
type VersionFeatures struct {
	// Knocking: join rule "knock" and membership "knock" (v7+).
	Knocking bool
	// RestrictedJoins: join rule "restricted" (v8+).
	RestrictedJoins bool
	// KnockRestricted: join rule "knock_restricted" (v10+).
	KnockRestricted bool
	// CreatorInCreateContent: m.room.create content must carry "creator"
	// (v1–v10). BuildEvent fills it in when absent.
	CreatorInCreateContent bool
	// RedactsInContent: m.room.redaction carries "redacts" in content
	// instead of at the top level (v11+).
	RedactsInContent bool
	// RoomIDFromCreateEvent: the room ID is derived from the create event's
	// ID and the create event is left out of auth_events (v12+).
	RoomIDFromCreateEvent bool
	// PrivilegedCreators: room creators have unlimited power and must not
	// be listed in power_levels.users (v12+).
	PrivilegedCreators bool
}

// SupportedVersions returns every stable room version the library
// implements, in ascending numeric order.
func SupportedVersions() []string {
	var out []string
	for v := range gmsl.StableRoomVersions() {
		out = append(out, string(v))
	}
	slices.SortFunc(out, compareVersions)
	return out
}

// compareVersions orders numeric versions numerically and anything else
// after them, lexically.
func compareVersions(a, b string) int {
	na, errA := strconv.Atoi(a)
	nb, errB := strconv.Atoi(b)
	switch {
	case errA == nil && errB == nil:
		return na - nb
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// IsSupported reports whether v is a stable room version we can create and
// join. Unstable (MSC) versions known to the library are not offered.
func IsSupported(v string) bool {
	return gmsl.StableRoomVersion(gmsl.RoomVersion(v))
}

// Features returns the feature set of room version v; ok is false when the
// version is not supported.
func Features(v string) (f VersionFeatures, ok bool) {
	if !IsSupported(v) {
		return f, false
	}
	impl := gmsl.MustGetRoomVersion(gmsl.RoomVersion(v))
	n, err := strconv.Atoi(v)
	if err != nil {
		// Every stable version is numeric today; a future named one would
		// need its features spelled out here.
		return f, false
	}
	return VersionFeatures{
		Knocking:               n >= 7,
		RestrictedJoins:        impl.CheckRestrictedJoinsAllowed() == nil,
		KnockRestricted:        n >= 10,
		CreatorInCreateContent: n <= 10,
		RedactsInContent:       n >= 11,
		RoomIDFromCreateEvent:  impl.DomainlessRoomIDs(),
		PrivilegedCreators:     impl.PrivilegedCreators(),
	}, true
}

// SupportsKnocking reports whether rooms of version v allow knocking (v7+).
func SupportsKnocking(v string) bool {
	f, _ := Features(v)
	return f.Knocking
}

// SupportsRestrictedJoins reports whether rooms of version v allow the
// "restricted" join rule (v8+).
func SupportsRestrictedJoins(v string) bool {
	f, _ := Features(v)
	return f.RestrictedJoins
}

// lookupVersion looks up the library's implementation of a supported version.
func lookupVersion(v string) (gmsl.IRoomVersion, error) {
	if !IsSupported(v) {
		return nil, &UnsupportedVersionError{Version: v}
	}
	return gmsl.GetRoomVersion(gmsl.RoomVersion(v))
}

// UnsupportedVersionError is returned when a room version is unknown or
// not stable. HTTP code maps it to M_UNSUPPORTED_ROOM_VERSION.
type UnsupportedVersionError struct {
	Version string
}

func (e *UnsupportedVersionError) Error() string {
	return "unsupported room version " + strconv.Quote(e.Version)
}
