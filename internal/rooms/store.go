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
	// Depth is the greatest depth of the room's forward extremities.
	Depth int64
	// Extremities are the room's forward extremities: the events no other
	// event points at yet, which the next local event names as its
	// prev_events.
	Extremities []Extremity
	// StateGroup holds the room's current state (0 before the first
	// event).
	StateGroup int64
}

// Extremity is a forward extremity of a room.
type Extremity struct {
	EventID string
	Depth   int64
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
	// StateGroup holds the state after the event.
	StateGroup int64
	// Rejected and SoftFailed events are only ever read by the server's
	// own checks (EventsAnyStatus, StateGroup); clients never see them.
	Rejected, SoftFailed bool
	// Outlier events are held without their place in the room's DAG
	// (the state and auth chain a join brought, events fetched for a
	// gap's state or auth): state and auth read them, clients never see
	// them in a timeline (outliers.go).
	Outlier bool
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
	// StateBefore is the state group of the state before the event (0
	// for a room's create event). An accepted state event makes a group of
	// its own, its stream position as ID, one entry on top of StateBefore;
	// any other event keeps StateBefore as the state after it.
	StateBefore int64
	// Rejected events failed authorisation against their auth events or
	// the state before them; SoftFailed ones against the room's current
	// state. Both are stored, never shown to clients, and change no state.
	Rejected, SoftFailed bool
	// Outlier events are stored at a negative position with no state
	// group of their own, for state and auth only; they change neither
	// current state nor forward extremities (outliers.go).
	Outlier bool
	// Backfilled events are history, older than what the room had: they
	// change neither its current state nor its extremities (backfill.go).
	Backfilled bool
	// ReplacesOutlier: the event is stored as an outlier, and now takes
	// its place in the room's timeline in place of that row.
	ReplacesOutlier bool
}

// StateGroupWrite is a state group to store before an Append's events:
// Delta on top of group Prev (0: Delta is the full state). An entry with
// event ID "" removes its key.
type StateGroupWrite struct {
	ID    int64
	Prev  int64
	Delta map[matrixevents.StateTuple]string
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
	// StateGroups are stored first (resolved states the events build on);
	// AfterGroups after the events (a resolved state built on theirs).
	StateGroups, AfterGroups []StateGroupWrite
	// Extremities, when not nil, replace the room's forward extremities;
	// when nil, the last event becomes the only one (a local append).
	Extremities []Extremity
	// CurrentState, when not nil, replaces the room's current state (the
	// resolution of its extremities); when nil, each state event shown to
	// clients updates it.
	CurrentState []StoredEvent
	// StateGroup is the group holding the room's current state after the
	// append.
	StateGroup int64
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
	// Forgotten is set when the user forgot the room after leaving it.
	Forgotten bool
}

// Store is the persistence of rooms, implemented in internal/storage and
// tested on SQLite and PostgreSQL.
type Store interface {
	Append(ctx context.Context, a Append) error
	// AppendAll is Append of each of as, in order, in one transaction.
	AppendAll(ctx context.Context, as []Append) error
	GetRoom(ctx context.Context, roomID string) (RoomInfo, error)
	CurrentState(ctx context.Context, roomID string) ([]StoredEvent, error)
	// StateAt is the room's state after the last event shown to clients
	// at or before stream position pos: its current state then, which is
	// the resolution of the room's branches when it had several.
	StateAt(ctx context.Context, roomID string, pos int64) ([]StoredEvent, error)
	// StateGroupAt is the ID of the group StateAt reads (0 when no event
	// is shown at or before pos): equal IDs hold equal states.
	StateGroupAt(ctx context.Context, roomID string, pos int64) (int64, error)
	// StateGroup is the state held by a state group, whatever its events'
	// status.
	StateGroup(ctx context.Context, id int64) ([]StoredEvent, error)
	// StateGroupIDs is the same state as event IDs by key, read without
	// the events: callers that keep a few keys fetch only those.
	StateGroupIDs(ctx context.Context, id int64) (map[matrixevents.StateTuple]string, error)
	// StateGroupSubset is part of StateGroupIDs: the keys given, and with
	// nonMembers every key but members'. Its cost follows the keys asked
	// for, not the size of the state.
	StateGroupSubset(ctx context.Context, id int64, nonMembers bool, keys []matrixevents.StateTuple) (map[matrixevents.StateTuple]string, error)
	// EventsAnyStatus returns the events found among eventIDs, rejected
	// and soft-failed ones too (auth and state resolution need them).
	EventsAnyStatus(ctx context.Context, eventIDs []string) (map[string]StoredEvent, error)
	// TopoEvents pages through a room in topological order: events after
	// from (forwards, up to and including to) or at or before from
	// (backwards, down to and excluding to), at most limit, filtered.
	TopoEvents(ctx context.Context, roomID string, from, to TopoPos, backwards bool, limit int, f EventFilter) ([]StoredEvent, error)
	// TopoPosAt is the topological position of the last event shown to
	// clients at or before stream position pos (the zero TopoPos when none).
	TopoPosAt(ctx context.Context, roomID string, pos int64) (TopoPos, error)
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
	// event in current state, forgotten rooms marked.
	UserMemberships(ctx context.Context, userID string) ([]RoomMembership, error)
	SetPublic(ctx context.Context, roomID string, public bool) error
	PublicRooms(ctx context.Context) ([]string, error)

	// CurrentStateOfType lists the current state event of type eventType
	// and stateKey in every room that has one (user directory).
	CurrentStateOfType(ctx context.Context, eventType, stateKey string) ([]StoredEvent, error)
	// DirectoryCandidates lists the users joined to one of roomIDs or
	// sharing a joined room with userID (userID itself only through
	// roomIDs): local ones with their global profiles (deactivated ones
	// left out), other servers' with their member events' names.
	DirectoryCandidates(ctx context.Context, userID string, roomIDs []string) ([]DirectoryUser, error)
	// RoomsJoinedByServer lists the rooms a user of server is joined to.
	RoomsJoinedByServer(ctx context.Context, server string) ([]string, error)

	CreateAlias(ctx context.Context, alias, roomID, creator string, ts int64) error
	GetAlias(ctx context.Context, alias string) (roomID, creator string, err error)
	DeleteAlias(ctx context.Context, alias string) error
	AliasesForRoom(ctx context.Context, roomID string) ([]string, error)

	Forget(ctx context.Context, userID, roomID string) error
	// Forgot reports whether the user forgot the room since their last
	// membership change.
	Forgot(ctx context.Context, userID, roomID string) (bool, error)

	// RelationStore indexes relationships between events (relations.go).
	RelationStore
	// DAGStore answers other servers' questions about the DAG (dagstore.go).
	DAGStore
	// SearchStore is the full-text index of POST /search (search.go).
	SearchStore
}
