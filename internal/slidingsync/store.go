package slidingsync

import "context"

// ListedRoom is one of a user's rooms as a room list needs it: the
// user's membership and the room's newest bump.
type ListedRoom struct {
	RoomID     string
	Membership string
	// MembershipPos is the stream position of the user's membership
	// event; MembershipSender who sent it, for a leave (one sent by
	// someone else is a kick) or an invite, else "".
	MembershipPos    int64
	MembershipSender string
	// DirectInvite is set for an invite marked is_direct (a DM before
	// m.direct lists it).
	DirectInvite bool
	// Forgotten is set when the user forgot the room (ForgottenRooms).
	Forgotten bool
	// BumpPos is the position of the room's newest bump event (0: none
	// known, e.g. a room joined over federation whose messages are all
	// older than the join).
	BumpPos int64
}

// RoomFacts are what list filters ask of a room's state.
type RoomFacts struct {
	// Type is the create event's content.type; HasType is false when the
	// room has none (an ordinary room).
	Type      string
	HasType   bool
	Encrypted bool
}

// Store is what sliding sync reads beyond the rooms and sync services,
// implemented in internal/storage and tested on SQLite and PostgreSQL.
type Store interface {
	// ListedRooms are every room the user has a membership in here, with
	// their bump positions: one row per room, from indexes (Forgotten is
	// left unset).
	ListedRooms(ctx context.Context, userID string) ([]ListedRoom, error)
	// MembershipsDigest sums up the user's membership rows (how many,
	// and their positions), so a cached list can be checked against them
	// without reading them: any membership change moves a row to a new
	// event's position.
	MembershipsDigest(ctx context.Context, userID string) (MembershipsDigest, error)
	// ForgottenRooms are the rooms the user forgot.
	ForgottenRooms(ctx context.Context, userID string) (map[string]bool, error)
	// RoomFacts reads the create and encryption state of rooms.
	RoomFacts(ctx context.Context, roomIDs []string) (map[string]RoomFacts, error)
	// RoomsWithEventsAfter are those of rooms (room ID → position) that
	// have an event shown to clients after their position and at or
	// before to.
	RoomsWithEventsAfter(ctx context.Context, rooms map[string]int64, to int64) (map[string]bool, error)
}

// MembershipsDigest is a summary of a user's membership rows.
type MembershipsDigest struct {
	Count, SumPos, MaxPos int64
}
