package clientsync

import "foyer/internal/rooms"

// A forgotten room never appears in an initial sync (spec: "Rooms which
// have been forgotten will never appear in the response to /sync"), but
// an incremental sync from before the user left still carries the leave
// under rooms.leave, as Synapse does (Complement's TestRoomForget, "Leave
// for forgotten room shows up in v2 incremental /sync"): otherwise the
// user's other devices could not learn that the room was left if it was
// forgotten at once.

// splitForgotten separates the rooms the user forgot from the others.
func splitForgotten(all []rooms.RoomMembership) (remembered, forgotten []rooms.RoomMembership) {
	remembered = all[:0:0]
	for _, m := range all {
		if m.Forgotten {
			forgotten = append(forgotten, m)
		} else {
			remembered = append(remembered, m)
		}
	}
	return remembered, forgotten
}

// leftSince are the forgotten rooms whose leave (or ban) came after
// since, which an incremental sync from since still reports.
func leftSince(forgotten []rooms.RoomMembership, since int64) []rooms.RoomMembership {
	var out []rooms.RoomMembership
	for _, m := range forgotten {
		if m.StreamPos > since && (m.Membership == "leave" || m.Membership == "ban") {
			out = append(out, m)
		}
	}
	return out
}
