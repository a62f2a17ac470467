package rooms

import (
	"context"

	"foyer/internal/rooms/matrixevents"
)

// RoomInfo is a room's row.
type RoomInfo struct {
	RoomID        string
	Version       string
	Creator       string
	CreatedTS     int64
	IsPublic      bool
	LatestEventID string
	Depth         int64
}

// StoredEvent is an event as kept: Event is already redacted when
// RedactedBy is set.
type StoredEvent struct {
	Event             matrixevents.Event
	StreamPos         int64
	RedactedBy        string
	HistoryVisibility string
	// ReplacesState is the state event this one replaced, if any.
	ReplacesState string
}

// PersistEvent is an event about to be stored.
type PersistEvent struct {
	Event     matrixevents.Event
	StreamPos int64
	// HistoryVisibility is the value in force when it was sent.
	HistoryVisibility string
	ReplacesState     string
	// ExpiresTS is when a self-destructing message loses its content
	// (milliseconds since the epoch), or 0.
	ExpiresTS int64
}

// Txn records a client transaction ID with the event it produced.
type Txn struct {
	UserID, DeviceID, Scope, TxnID string
}

// Append is one atomic write to a room.
type Append struct {
	RoomID string
	// NewRoom creates the room row in the same transaction.
	NewRoom *RoomInfo
	Events  []PersistEvent
	Txn     *Txn
	// Redacts marks these event IDs as redacted by the event that
	// redacts them (one of Events).
	Redacts map[string]string
	// RoomCap, when set, refuses the whole append with
	// ErrRoomCapReached if its user is already joined to Max rooms other
	// than this one, counted inside the write transaction, where
	// concurrent joins of the same user are serialised.
	RoomCap *RoomCap
}

// RoomCap is a limit on the rooms one user may be joined to.
type RoomCap struct {
	UserID string
	Max    int
}

// MembershipChange is one of a user's membership events in a room.
type MembershipChange struct {
	StreamPos  int64
	Membership string
}

// EventFilter narrows event range queries (/messages filters).
type EventFilter struct {
	Types, NotTypes     []string
	Senders, NotSenders []string
	ContainsURL         *bool
	// StateOnly keeps state events only.
	StateOnly bool
}

// RoomMembership is a user's current membership in one room.
type RoomMembership struct {
	RoomID     string
	Membership string
	StreamPos  int64
}

// Store is the persistence of rooms, implemented in internal/storage and
// tested on SQLite and PostgreSQL.
type Store interface {
	Append(ctx context.Context, a Append) error
	GetRoom(ctx context.Context, roomID string) (RoomInfo, error)
	CurrentState(ctx context.Context, roomID string) ([]StoredEvent, error)
	// StateAt is the room state after the event at stream position pos.
	StateAt(ctx context.Context, roomID string, pos int64) ([]StoredEvent, error)
	GetEvent(ctx context.Context, eventID string) (StoredEvent, error)
	// GetEvents returns the events found among eventIDs, by ID.
	GetEvents(ctx context.Context, eventIDs []string) (map[string]StoredEvent, error)
	LookupTxn(ctx context.Context, t Txn) (string, error)
	// TxnIDs maps those of eventIDs that userID's deviceID sent with a
	// transaction ID to that ID.
	TxnIDs(ctx context.Context, userID, deviceID string, eventIDs []string) (map[string]string, error)
	MembershipHistory(ctx context.Context, roomID, userID string) ([]MembershipChange, error)
	// RoomsWithMembership lists rooms where the user's current membership
	// is one of memberships.
	RoomsWithMembership(ctx context.Context, userID string, memberships ...string) ([]string, error)
	// Events lists a room's events with from < pos <= to (forwards) or
	// from > pos >= to (backwards), at most limit, filtered.
	Events(ctx context.Context, roomID string, from, to int64, backwards bool, limit int, f EventFilter) ([]StoredEvent, error)
	// UserMemberships lists every room where the user has a membership
	// event in current state, forgotten rooms excepted.
	UserMemberships(ctx context.Context, userID string) ([]RoomMembership, error)
	SetPublic(ctx context.Context, roomID string, public bool) error
	PublicRooms(ctx context.Context) ([]string, error)

	// CurrentStateOfType lists the current state event of type eventType
	// and stateKey in every room that has one (user directory).
	CurrentStateOfType(ctx context.Context, eventType, stateKey string) ([]StoredEvent, error)
	// DirectoryCandidates lists, with their global profiles, the local
	// users who are not deactivated and are joined to one of roomIDs or
	// share a joined room with userID (userID itself only through
	// roomIDs).
	DirectoryCandidates(ctx context.Context, userID string, roomIDs []string) ([]DirectoryUser, error)

	CreateAlias(ctx context.Context, alias, roomID, creator string, ts int64) error
	GetAlias(ctx context.Context, alias string) (roomID, creator string, err error)
	DeleteAlias(ctx context.Context, alias string) error
	AliasesForRoom(ctx context.Context, roomID string) ([]string, error)

	Forget(ctx context.Context, userID, roomID string) error

	// RelationStore indexes relationships between events (relations.go).
	RelationStore
}
