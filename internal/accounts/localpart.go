package accounts

import (
	"fmt"
	"strings"
)

// UsernameError says why a requested username cannot be used; it wraps
// ErrInvalidUsername.
type UsernameError struct{ Reason string }

func (e *UsernameError) Error() string { return e.Reason }
func (e *UsernameError) Unwrap() error { return ErrInvalidUsername }

// maxUserIDBytes is the spec's limit on a whole user ID.
const maxUserIDBytes = 255

// NormaliseLocalpart lower-cases a requested username (as Synapse does, so
// clients that send "Alice" get "@alice") and checks it against the
// localpart grammar. Purely numeric names are reserved for guests and names
// starting with "_" for the server itself.
func NormaliseLocalpart(username, serverName string) (string, error) {
	lp, err := NormaliseAppServiceLocalpart(username, serverName)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(lp, "_") {
		return "", &UsernameError{"usernames starting with _ are reserved"}
	}
	return lp, nil
}

// NormaliseAppServiceLocalpart is NormaliseLocalpart for an application
// service's users, which may start with "_" (bridges' puppets often do:
// the prefix keeps them apart from people's names).
func NormaliseAppServiceLocalpart(username, serverName string) (string, error) {
	lp := strings.ToLower(username)
	if lp == "" {
		return "", &UsernameError{"the username must not be empty"}
	}
	for _, r := range lp {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-._=/+", r)) {
			return "", &UsernameError{fmt.Sprintf("the username may only contain a-z, 0-9 and -._=/+ (found %q)", r)}
		}
	}
	if len("@"+lp+":"+serverName) > maxUserIDBytes {
		return "", &UsernameError{fmt.Sprintf("the user ID would be longer than %d bytes", maxUserIDBytes)}
	}
	if IsGuestLocalpart(lp) {
		return "", &UsernameError{"purely numeric usernames are reserved for guest accounts"}
	}
	return lp, nil
}

// IsGuestLocalpart reports whether lp has the shape given to guests.
func IsGuestLocalpart(lp string) bool {
	if lp == "" {
		return false
	}
	for _, r := range lp {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// UserID builds @localpart:server.
func UserID(localpart, serverName string) string { return "@" + localpart + ":" + serverName }

// SplitUserID returns the localpart and server of a user ID.
func SplitUserID(userID string) (localpart, server string, ok bool) {
	if !strings.HasPrefix(userID, "@") {
		return "", "", false
	}
	return strings.Cut(userID[1:], ":")
}
