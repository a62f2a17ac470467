package appservicesender

import "context"

// Pending is a transaction built and kept until the service accepts it.
type Pending struct {
	TxnID int64
	// Upto is the stream position the transaction covers to.
	Upto int64
	Body []byte
}

// State is where a service is in the stream.
type State struct {
	SentPos int64
	NextTxn int64
	Pending *Pending
}

// Store keeps each service's State durably.
type Store interface {
	// State returns the service's state, first starting it at startPos
	// (a service registered now is sent what happens from now on).
	State(ctx context.Context, appserviceID string, startPos int64) (State, error)
	// SavePending keeps a transaction about to be sent.
	SavePending(ctx context.Context, appserviceID string, p Pending) error
	// Delivered records the pending transaction accepted: sent_pos moves
	// to its Upto and the next transaction number follows it; next, when
	// not nil, becomes the pending transaction in the same write.
	Delivered(ctx context.Context, appserviceID string, p Pending, next *Pending) error
	// Advance moves sent_pos over events the service need not see.
	Advance(ctx context.Context, appserviceID string, pos int64) error
}
