package clientdata

import (
	"context"
	"encoding/json"
	"errors"
)

// ErrNotFound is returned by stores for missing rows.
var ErrNotFound = errors.New("not found")

// Receipt is one stored receipt: the latest of its (room, type, user,
// thread).
type Receipt struct {
	RoomID string
	// Type is ReceiptRead or ReceiptReadPrivate.
	Type   string
	UserID string
	// ThreadID is "" for an unthreaded receipt, else "main" or a thread
	// root's event ID.
	ThreadID string
	EventID  string
	// EventPos is the stream position of EventID in the room.
	EventPos  int64
	TS        int64
	StreamPos int64
}

// AccountData is one stored account data entry.
type AccountData struct {
	UserID string
	// RoomID is "" for global account data.
	RoomID    string
	Type      string
	Content   json.RawMessage
	StreamPos int64
}

// Store is the persistence of receipts and account data, implemented in
// internal/storage and tested on SQLite and PostgreSQL.
type Store interface {
	// PutReceipt replaces the receipt of the same (room, type, user,
	// thread), unless the stored one has a higher stream position (a
	// later write that committed first) or points at a later event (a
	// receipt only moves forward).
	PutReceipt(ctx context.Context, r Receipt) error
	// ReadUpTo is the stream position of the newest event the user's
	// unthreaded or main-thread read receipts (public or private) point
	// at in a room; 0 when there is none.
	ReadUpTo(ctx context.Context, userID, roomID string) (int64, error)
	// ReceiptsBetween lists the receipts in roomIDs with from < pos <= to.
	ReceiptsBetween(ctx context.Context, roomIDs []string, from, to int64) ([]Receipt, error)

	// PutAccountData replaces the entry of the same (user, room, type),
	// unless the stored one has a higher stream position.
	PutAccountData(ctx context.Context, d AccountData) error
	// GetAccountData returns one entry or ErrNotFound.
	GetAccountData(ctx context.Context, userID, roomID, typ string) (AccountData, error)
	// AccountDataBetween lists a user's entries (global and per room)
	// with from < pos <= to, in stream order.
	AccountDataBetween(ctx context.Context, userID string, from, to int64) ([]AccountData, error)
}
