package guest

import "context"

// Link is a room guest link: whoever redeems it becomes a guest joined to
// RoomID, even when open guest registration is off.
type Link struct {
	Token     string
	RoomID    string
	Creator   string
	MaxUses   *int64 // nil: unlimited
	Uses      int64
	ExpiresTS *int64 // nil: never
	CreatedTS int64
	RevokedTS *int64 // nil: not revoked
}

// Info is a live guest as the admin API lists it.
type Info struct {
	UserID     string
	CreatedTS  int64
	LastSeenTS int64
	Devices    int
	Rooms      int // rooms joined
}

// Store is the persistence of guest links and of the guest bookkeeping,
// implemented in internal/storage (guestlinks.go, guestrenames.go) and tested on SQLite
// and PostgreSQL.
type Store interface {
	CreateLink(ctx context.Context, l Link) error
	// GetLink returns a link, revoked ones included, or a LinkError with
	// NotFound.
	GetLink(ctx context.Context, token string) (Link, error)
	// ListLinks lists a room's links that are not revoked, oldest first.
	ListLinks(ctx context.Context, roomID string) ([]Link, error)
	// RevokeLink marks a room's link revoked; a LinkError with NotFound
	// when the room has no such unrevoked link.
	RevokeLink(ctx context.Context, roomID, token string, now int64) error
	// UseLink takes one use of a link that is not revoked, not expired at
	// now and has uses left; false when it has none of those.
	UseLink(ctx context.Context, token string, now int64) (bool, error)
	// ReturnLinkUse gives back a use taken by a redemption that failed.
	ReturnLinkUse(ctx context.Context, token string) error

	// CountLiveGuests counts accounts of kind guest not deactivated.
	CountLiveGuests(ctx context.Context) (int64, error)
	// ListGuests pages through live guests, oldest first.
	ListGuests(ctx context.Context, offset, limit int) ([]Info, error)
	// ExpirableGuests lists live guests (kind guest only: never named
	// guests or upgraded users) last seen before the given time.
	ExpirableGuests(ctx context.Context, lastSeenBefore int64, limit int) ([]string, error)
	// ClaimGuest deactivates a live guest — when lastSeenBefore > 0, only
	// if it was last seen before then — and queues it to leave its rooms,
	// in one transaction. false when it is not such a guest (any more).
	ClaimGuest(ctx context.Context, userID string, lastSeenBefore, now int64) (bool, error)
	// PendingLeaves lists claimed guests whose rooms are still to leave.
	PendingLeaves(ctx context.Context, limit int) ([]string, error)
	// DonePendingLeave removes a guest from that queue.
	DonePendingLeave(ctx context.Context, userID string) error
	// DeleteFreshGuest removes a guest account that has done nothing yet
	// (its registration is being undone): tokens, devices, profile, row.
	DeleteFreshGuest(ctx context.Context, userID string) error

	// Rename upgrades. The intent is recorded when the new account is
	// created (accounts.RegisterRequest.RenameOf).
	//
	// GetRename returns the rename of a guest; false when it has none.
	GetRename(ctx context.Context, guestID string) (Rename, bool, error)
	// UnfinishedRenames lists renames in state RenameMoving, oldest first.
	UnfinishedRenames(ctx context.Context, limit int) ([]Rename, error)
	SetRenameState(ctx context.Context, guestID string, state RenameState, now int64) error
	// AddRenamedRoom records a room moved to the new account;
	// RenamedRooms lists them, sorted.
	AddRenamedRoom(ctx context.Context, guestID, roomID string) error
	RenamedRooms(ctx context.Context, guestID string) ([]string, error)
}

// Rename is a rename upgrade as recorded.
type Rename struct {
	GuestUserID, NewUserID string
	// NewDeviceID is the new account's device ("" with inhibit_login).
	NewDeviceID string
	State       RenameState
}

// RenameState is how far a rename upgrade got.
type RenameState string

const (
	// RenameMoving: the new account exists; the guest's rooms are being
	// moved.
	RenameMoving RenameState = "moving"
	// RenameMoved: finished at a start after a crash: the rooms are
	// moved and the guest has left them, but its client has not got the
	// new account's token yet, so the guest stays until it repeats the
	// request.
	RenameMoved RenameState = "moved"
	// RenameDone: the client has the new account; the guest is gone.
	RenameDone RenameState = "done"
)
