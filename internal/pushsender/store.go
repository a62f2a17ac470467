// Package pushsender turns room events into push notifications and
// delivers them to users' push gateways (the Push Gateway API,
// POST /_matrix/push/v1/notify).
//
// Nothing here runs on the event write path. A notifier follows the
// event stream from a cursor kept in the database: for each event it
// evaluates the push rules of the room's local members, and writes the
// resulting notifications, a queue entry for each of the users' HTTP
// pushers and the new cursor in one transaction. An event acknowledged
// to its sender is in the stream, and the cursor only passes it once its
// notifications are written, so a crash at any point loses no push: the
// next start resumes from the cursor. Each pusher's queue is then drained
// in order by a worker of its own, retried with exponential backoff while
// the gateway fails, and resumed after a restart.
package pushsender

import (
	"context"
	"encoding/json"

	"foyer/internal/push"
	"foyer/internal/rooms"
)

// PusherKey names one pusher.
type PusherKey struct{ UserID, AppID, PushKey string }

// Notification is an event that notified a user: what GET /notifications
// lists and what pushers are sent.
type Notification struct {
	UserID    string
	RoomID    string
	EventID   string
	StreamPos int64
	Highlight bool
	// Actions are the actions of the push rule that decided it.
	Actions []json.RawMessage
	TS      int64
	// Event and RoomName are set for an event this server holds no
	// timeline for: an invite into a room it is not in.
	Event    json.RawMessage
	RoomName string
}

// RemoteInvite is a local user's pending invite into a room this server
// is not in, kept at a stream position.
type RemoteInvite struct {
	UserID, RoomID, EventID string
	StreamPos               int64
	Event                   json.RawMessage
	// State is the invite's stripped state: a JSON array of events.
	State json.RawMessage
}

// NotificationPage is one page of GET /notifications, newest first.
type NotificationPage struct {
	Notifications []Notification
	// Next is the position to continue below; 0 when there is no more.
	Next int64
}

// Queued is one entry of a pusher's queue: a notification to send, or
// (StreamPos 0) a badge update, the user's unread count alone.
type Queued struct {
	Position  int64
	StreamPos int64
	RoomID    string
	EventID   string
	Actions   []json.RawMessage
	CreatedTS int64
	// Event and RoomName as in Notification.
	Event    json.RawMessage
	RoomName string
	// Pusher is the entry's pusher as it is now; nil once deleted.
	Pusher *push.Pusher
}

// IsBadge reports whether the entry is a badge update.
func (q Queued) IsBadge() bool { return q.StreamPos == 0 }

// GatewayQueue is how many entries wait for pushers with one data.url.
type GatewayQueue struct {
	URL    string
	Length int64
}

// Store keeps notifications, the per-pusher queues and the notifier's
// cursor (storage.PushNotificationStore).
type Store interface {
	// Cursor is the stream position up to which events have been turned
	// into notifications.
	Cursor(ctx context.Context) (int64, error)
	// EventsAfter lists the events clients see (no outliers, rejected or
	// soft-failed events, no backfilled history) with from < position <=
	// to, in stream order, at most limit.
	EventsAfter(ctx context.Context, from, to int64, limit int) ([]rooms.StoredEvent, error)
	// RemoteInvitesAfter lists the pending invites into rooms this
	// server is not in with from < position <= to.
	RemoteInvitesAfter(ctx context.Context, from, to int64) ([]RemoteInvite, error)
	// Record stores ns, queues each for its user's HTTP pushers and moves
	// the cursor to cursor, in one transaction. It returns the pushers
	// that have something newly queued.
	Record(ctx context.Context, ns []Notification, cursor, queuedTS int64) ([]PusherKey, error)
	// QueueBadge queues a badge update for each of the user's HTTP
	// pushers that has none waiting, and returns them.
	QueueBadge(ctx context.Context, userID string, queuedTS int64) ([]PusherKey, error)
	// Next returns the oldest entry of the pusher's queue after position
	// after, with the pusher; false when there is none.
	Next(ctx context.Context, k PusherKey, after int64) (Queued, bool, error)
	// Remove deletes queue entries (of any pushers) by position.
	Remove(ctx context.Context, positions []int64) error
	// Trim deletes the pusher's oldest entries beyond its newest keep,
	// never the entry at position current, which is being sent; it
	// returns how many it deleted.
	Trim(ctx context.Context, k PusherKey, current int64, keep int) (int, error)
	// DropQueue deletes the pusher's whole queue.
	DropQueue(ctx context.Context, k PusherKey) error
	// QueuedPushers lists the pushers with something queued.
	QueuedPushers(ctx context.Context) ([]PusherKey, error)
	// DeletePusher removes the pusher and its queue.
	DeletePusher(ctx context.Context, k PusherKey) error
	// UnreadRooms counts the rooms the user is joined or invited to that
	// hold a notification after the user's read receipt: the badge.
	UnreadRooms(ctx context.Context, userID string) (int, error)
	// QueueLengths counts the queued entries per pusher URL.
	QueueLengths(ctx context.Context) ([]GatewayQueue, error)
	// Prune deletes notifications older than before (milliseconds).
	Prune(ctx context.Context, before int64) error
}

// Rooms is what the sender needs of the room service.
type Rooms interface {
	PushRoomFor(ctx context.Context, roomID string) (*rooms.PushRoom, error)
	GetEvent(ctx context.Context, eventID string) (rooms.StoredEvent, error)
}

// Rules evaluates users' push rules (push.Service).
type Rules interface {
	EvaluatePrepared(ctx context.Context, userID string, pe push.PreparedEvent, rc push.RoomContext) (push.Match, bool, error)
	EvaluateShared(ctx context.Context, userID string, pe push.PreparedEvent, rc push.RoomContext, shared push.SharedOutcome) (push.Match, bool, error)
}

// Ignores says whom a user ignores (m.ignored_user_list): their events
// never notify the user (clientsync.Service, which caches the lists).
type Ignores interface {
	IgnoredBy(ctx context.Context, userID string) (map[string]bool, error)
}

// Stream is the event stream's visible end (storage.Stream).
type Stream interface {
	Current() int64
}

// Metrics counts deliveries by gateway host; nil counts nothing.
type Metrics interface {
	Sent(gateway string)
	Failed(gateway string)
	Retried(gateway string)
}
