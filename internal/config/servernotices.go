package config

import (
	"fmt"
	"strings"
)

// ServerNotices is the server_notices: section: the notices operators
// send users through /_synapse/admin/v1/send_server_notice, each user's
// arriving in a room of their own that a system user creates.
type ServerNotices struct {
	// SystemUserLocalpart names the system user that sends notices; empty
	// switches notices off (the default). It must start with "_", which
	// no one may register, so no account can be or become that user.
	SystemUserLocalpart string `yaml:"system_user_localpart" env:"SERVER_NOTICES_SYSTEM_USER_LOCALPART"`
	// RoomName is the name of each user's server-notices room.
	RoomName string `yaml:"room_name" env:"SERVER_NOTICES_ROOM_NAME"`
}

// defaultServerNotices is the server_notices section of Default: off.
func defaultServerNotices() ServerNotices {
	return ServerNotices{RoomName: "Server Notices"}
}

// Enabled reports whether operators may send server notices.
func (n ServerNotices) Enabled() bool { return n.SystemUserLocalpart != "" }

// validate returns the problems with the section.
func (n ServerNotices) validate() []error {
	lp := n.SystemUserLocalpart
	if lp == "" {
		return nil
	}
	if !strings.HasPrefix(lp, "_") || len(lp) < 2 {
		return []error{fmt.Errorf("server_notices.system_user_localpart %q must start with _ (a reserved name no one can register), such as _server", lp)}
	}
	for _, r := range lp {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-._=/+", r)) {
			return []error{fmt.Errorf("server_notices.system_user_localpart %q may only contain a-z, 0-9 and -._=/+", lp)}
		}
	}
	return nil
}
