package rooms

import (
	"maps"
	"slices"
	"strings"

	"foyer/internal/rooms/matrixevents"
)

// JoinHints are where to ask to join a room this server is not in.
type JoinHints struct {
	// Via are the servers the client named (via and server_name).
	Via []string
	// Invite are the servers of the user's pending invite to the room
	// from another server (PendingInviteServers).
	Invite []string
	// Alias are the servers the lookup of the alias being joined named.
	Alias []string
}

// joinServers is the one list of the servers asked, in order, to join
// roomID when this server is not in it: those the client named, those of
// the user's pending invite (the inviting server first), the server of
// the room ID (when the room's version gives it one), those the alias's
// server named, then the servers with joined members in what this server
// last knew of the room (a room it left). This server, names that are not
// server names and repeats are left out.
func (s *Service) joinServers(roomID string, hints JoinHints, known map[matrixevents.StateTuple]StoredEvent) []string {
	var out []string
	add := func(name string) {
		if name == "" || strings.EqualFold(name, s.serverName) || !matrixevents.ValidServerName(name) || slices.Contains(out, name) {
			return
		}
		out = append(out, name)
	}
	for _, name := range slices.Concat(hints.Via, hints.Invite) {
		add(name)
	}
	if i := strings.IndexByte(roomID, ':'); i > 0 {
		add(roomID[i+1:])
	}
	for _, name := range hints.Alias {
		add(name)
	}
	for _, name := range joinedServers(maps.Values(known)) {
		add(name)
	}
	return out
}
