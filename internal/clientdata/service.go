// Package clientdata keeps the per-user data clients store on the server
// and /sync delivers beside the timeline: read receipts, the fully read
// marker, account data (global and per room) and room tags (room account
// data of type m.tag).
//
// Every write takes a position in the shared stream (storage.Stream) and
// stores it with the row, replacing the previous row of the same key, so
// /sync asks "what changed in (since, to]" — see ReceiptsSince and
// AccountDataSince. Stream.OnAdvance tells long-polls a write is visible.
package clientdata

import (
	"context"
	"errors"
	"time"

	"foyer/internal/keylock"
	"foyer/internal/refusal"
	"foyer/internal/rooms"
)

// Receipt types.
const (
	ReceiptRead        = "m.read"
	ReceiptReadPrivate = "m.read.private"
	// ReceiptFullyRead is accepted by the receipt endpoint and stored as
	// the m.fully_read room account data, not as a receipt.
	ReceiptFullyRead = "m.fully_read"
)

// Account data types the server manages: clients may read them but not
// set them through the account data API (spec: Client Config, Server
// Behaviour).
const (
	TypeFullyRead = "m.fully_read"
	TypePushRules = "m.push_rules"
	TypeTag       = "m.tag"
)

// Positions hands out stream positions (storage.Stream).
type Positions interface {
	Reserve(ctx context.Context) (pos int64, done func(), err error)
}

// Rooms is what this package needs of the room service (rooms.Service):
// membership, and events as the user may see them.
type Rooms interface {
	RequireJoined(ctx context.Context, userID, roomID string) error
	Event(ctx context.Context, userID, roomID, eventID string) (rooms.StoredEvent, error)
}

// Service is receipts, read markers, account data and tags.
type Service struct {
	store     Store
	rooms     Rooms
	positions Positions
	now       func() time.Time
	onWrite   []func(Write)
	// onPublicReceipt hear of stored public read receipts (federation).
	onPublicReceipt []func(Receipt)

	// userLocks serialise account data writes per user (hashed), so a
	// read-modify-write (tags) never loses a concurrent update and
	// positions are stored in the order they were taken.
	userLocks keylock.Striped
}

// NewService builds the service.
func NewService(store Store, r Rooms, positions Positions) *Service {
	return &Service{store: store, rooms: r, positions: positions, now: time.Now}
}

func (s *Service) lockUser(userID string) func() { return s.userLocks.Lock(userID) }

// requireJoined refuses users not joined to the room (and rooms that do
// not exist, without saying which).
func (s *Service) requireJoined(ctx context.Context, userID, roomID string) error {
	return s.rooms.RequireJoined(ctx, userID, roomID)
}

// requireEvent checks the event is in the room and visible to the user.
func (s *Service) requireEvent(ctx context.Context, userID, roomID, eventID string) (rooms.StoredEvent, error) {
	if eventID == "" {
		return rooms.StoredEvent{}, refusal.New(refusal.InvalidParam, "an event ID is required")
	}
	se, err := s.rooms.Event(ctx, userID, roomID, eventID)
	if err == nil {
		return se, nil
	}
	var re *refusal.Error
	if errors.As(err, &re) {
		switch re.Kind {
		case refusal.NotFound:
			return se, refusal.New(refusal.NotFound, "there is no event %s in room %s", eventID, roomID)
		case refusal.Forbidden, refusal.GuestForbidden:
			return se, refusal.New(refusal.Forbidden, "%s", re.Msg)
		}
	}
	return se, err
}
