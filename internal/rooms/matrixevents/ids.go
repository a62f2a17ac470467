package matrixevents

import (
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// maxIDLength is the spec's limit on user IDs, room aliases and the like.
const maxIDLength = 255

// ValidUserID reports whether s is a user ID other servers may send us:
// historical localpart characters are accepted, as the spec requires.
func ValidUserID(s string) bool {
	_, _, ok := SplitUserID(s)
	return ok
}

// SplitUserID returns the localpart and server name of a valid user ID.
func SplitUserID(s string) (localpart, server string, ok bool) {
	u, err := spec.NewUserID(s, true)
	// The library lets an empty localpart through; the grammar does not.
	if err != nil || u.Local() == "" {
		return "", "", false
	}
	return u.Local(), string(u.Domain()), true
}

// ValidRoomID reports whether s is a room ID, either "!opaque:server" or
// the v12 domainless form.
func ValidRoomID(s string) bool {
	_, err := spec.NewRoomID(s)
	return err == nil && len(s) <= maxIDLength
}

// ValidRoomAlias reports whether s is "#localpart:server" with a valid
// server name. The library has no alias parser, so this is ours.
func ValidRoomAlias(s string) bool {
	if len(s) > maxIDLength || !strings.HasPrefix(s, "#") {
		return false
	}
	local, server, found := strings.Cut(s[1:], ":")
	return found && local != "" && ValidServerName(server)
}

// ValidServerName reports whether s is a server name (host with optional
// port).
func ValidServerName(s string) bool {
	_, _, ok := spec.ParseAndValidateServerName(spec.ServerName(s))
	return ok
}
