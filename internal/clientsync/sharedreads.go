package clientsync

import (
	"context"
	"encoding/json"

	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// The reads below are /sync's rules offered to the other sync protocol
// (internal/slidingsync), so both show a user the same events, counts and
// invites.

// Position is the current stream position and typing serial.
func (s *Service) Position() (pos, typing int64) {
	if s.typing != nil {
		typing = s.typing.Version()
	}
	return s.stream.Current(), typing
}

// TimelineWindow is a room's newest events in (lower, upper] a user may
// see, oldest first.
type TimelineWindow struct {
	Events []rooms.StoredEvent
	// Limited is true when visible events in the range were left out.
	Limited bool
	// PrevBatch is where /messages continues backwards.
	PrevBatch string
}

// Timeline reads up to limit events of a room in (lower, upper] as /sync
// would show them to userID: history visibility applied (joinedAt is the
// position of the user's current join, 0 when not joined) and ignored
// users' messages left out.
func (s *Service) Timeline(ctx context.Context, userID string, ignored map[string]bool, roomID string, lower, upper, joinedAt int64, limit int) (TimelineWindow, error) {
	req := &Request{UserID: userID, ignored: ignored}
	req.Filter.Room = &RoomFilter{Timeline: &RoomEventFilter{EventFilter: EventFilter{Limit: &limit}}}
	tl, err := s.timeline(ctx, req, roomID, lower, upper, joinedAt)
	if err != nil {
		return TimelineWindow{}, err
	}
	return TimelineWindow{Events: tl.events, Limited: tl.limited, PrevBatch: tl.prevBatch()}, nil
}

// ClientFormat renders events for a client as /sync does, with unsigned
// data and the device's own transaction IDs.
func (s *Service) ClientFormat(ctx context.Context, userID, deviceID string, events []rooms.StoredEvent) []json.RawMessage {
	out, _ := s.formatEvents(ctx, &Request{UserID: userID, DeviceID: deviceID}, events)
	return out
}

// CatchUp waits, briefly, until every write acknowledged before the call
// is visible (read your own writes; see Sync).
func (s *Service) CatchUp(ctx context.Context) { s.stream.CatchUp(ctx, catchUpWait) }

// Unread is a joined room's notification and highlight counts, counted
// after the later of the user's read receipt and its join at joinedAt.
func (s *Service) Unread(ctx context.Context, userID, roomID string, joinedAt, to int64) (UnreadNotifications, error) {
	return s.unread(ctx, userID, roomID, joinedAt, to)
}

// InviteState is the stripped state an invitee or knocker of a room
// here sees.
func (s *Service) InviteState(ctx context.Context, roomID, userID string) ([]StrippedEvent, error) {
	return s.strippedState(ctx, roomID, userID)
}

// InvitedByIgnored reports whether userID's invite to a room here came
// from a user it ignores.
func (s *Service) InvitedByIgnored(ctx context.Context, userID string, ignored map[string]bool, roomID string) (bool, error) {
	return s.invitedByIgnored(ctx, &Request{UserID: userID, ignored: ignored}, roomID)
}

// RemoteInviteState is the stripped state of an invite or knock held for
// a room on another server, with the membership event's sender.
func RemoteInviteState(m rooms.RemoteMembership) (state []StrippedEvent, sender string, err error) {
	ev, err := matrixevents.ParseTrusted(m.RoomVersion, m.Event)
	if err != nil {
		return nil, "", err
	}
	return strippedRemoteState(m.State, ev), ev.Sender(), nil
}

// MembershipAt is the user's membership in a room as of pos, given its
// current one.
func (s *Service) MembershipAt(ctx context.Context, m rooms.RoomMembership, userID string, pos int64) (rooms.RoomMembership, error) {
	return s.membershipAt(ctx, m, userID, pos)
}

// EventsMaybeSince is false only when the room has had no event after
// since (the in-memory change index), so a reader may skip its query.
func (s *Service) EventsMaybeSince(roomID string, since int64) bool {
	return s.changes.eventsMaybeSince(roomID, since)
}
