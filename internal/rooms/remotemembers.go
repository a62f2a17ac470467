package rooms

import (
	"context"
	"encoding/json"
	"errors"

	"foyer/internal/ratelimit"
	"foyer/internal/rooms/matrixevents"
)

// RemoteMembership is a local user's membership in a room this server is
// not in, as another server told it or as it was made through one: an
// invite received over federation, a knock sent through another server,
// or the leave that rejected or retracted one. The room's own state here,
// once this server joins, supersedes it when newer.
type RemoteMembership struct {
	UserID, RoomID string
	// Membership is invite, knock or leave.
	Membership  string
	EventID     string
	RoomVersion string
	// Event is the membership event as signed by the servers.
	Event json.RawMessage
	// State is a JSON array of the room's state events the remote server
	// gave with it (invite_room_state, knock_room_state), which clients
	// see stripped.
	State json.RawMessage
	// Servers are the ones to ask for the room, in order.
	Servers   []string
	StreamPos int64
}

// ErrRemoteMembershipCap is a store's refusal to keep another pending
// remote invite or knock for a user at its cap.
var ErrRemoteMembershipCap = errors.New("too many pending remote invites and knocks")

// RemoteMembershipStore keeps RemoteMemberships (storage).
type RemoteMembershipStore interface {
	// PutRemoteMembership stores m in place of the user's earlier one for
	// the room. A pending one (invite or knock) is refused with
	// ErrRemoteMembershipCap when the user already has maxPending others
	// that their membership in a local room's state has not superseded.
	PutRemoteMembership(ctx context.Context, m RemoteMembership, maxPending int) error
	// RemoteMembership is the user's for the room (ErrNotFound if none).
	RemoteMembership(ctx context.Context, userID, roomID string) (RemoteMembership, error)
	// RemoteMemberships are all of the user's, by room ID.
	RemoteMemberships(ctx context.Context, userID string) ([]RemoteMembership, error)
	// DeleteRemoteMembership forgets the user's for the room.
	DeleteRemoteMembership(ctx context.Context, userID, roomID string) error
}

// RemoteMemberships are userID's memberships in rooms this server is not
// in (none without a store).
func (s *Service) RemoteMemberships(ctx context.Context, userID string) ([]RemoteMembership, error) {
	if s.remote.store == nil {
		return nil, nil
	}
	none, gen := s.remote.none.known(userID)
	if none {
		return nil, nil
	}
	ms, err := s.remote.store.RemoteMemberships(ctx, userID)
	if err == nil && len(ms) == 0 {
		s.remote.none.remember(userID, gen)
	}
	return ms, err
}

// OnRemoteMembership registers f to hear of each stored remote membership
// once its stream position is visible (sync wakes the user).
func (s *Service) OnRemoteMembership(f func(userID string, pos int64)) {
	s.listenersMu.Lock()
	s.remote.listeners = append(s.remote.listeners, f)
	s.listenersMu.Unlock()
}

// putRemote stores m at a new stream position and tells the listeners.
func (s *Service) putRemote(ctx context.Context, m RemoteMembership, maxPending int) error {
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return err
	}
	defer done()
	m.StreamPos = pos
	err = s.remote.store.PutRemoteMembership(ctx, m, maxPending)
	// Forgotten even when the write failed: it may have been stored.
	s.remote.none.forget(m.UserID)
	if err != nil {
		return err
	}
	done()
	s.listenersMu.RLock()
	defer s.listenersMu.RUnlock()
	for _, f := range s.remote.listeners {
		f(m.UserID, pos)
	}
	return nil
}

// MembershipFederation is the calls to other servers that memberships
// in their rooms need (federationclient.Client).
type MembershipFederation interface {
	// Invite asks destination, the invitee's server, to sign the invite
	// event (PUT /invite, v2), giving it state, full events of the room
	// to show the invitee; it answers the event with its signature.
	Invite(ctx context.Context, destination, roomID, eventID, roomVersion string, event json.RawMessage, state []json.RawMessage) (json.RawMessage, error)
	// MakeMembership asks destination for the template of userID's
	// membership (leave or knock) in roomID; versions are the room
	// versions this server supports (make_knock's ver).
	MakeMembership(ctx context.Context, destination, membership, roomID, userID string, versions []string) (template json.RawMessage, roomVersion string, err error)
	// SendMembership gives destination the signed membership event
	// (send_leave v2, send_knock v1) and returns its answer.
	SendMembership(ctx context.Context, destination, membership, roomID, eventID string, event json.RawMessage) (json.RawMessage, error)
}

// Federation is what rooms needs for memberships in other servers'
// rooms: where they are kept, the calls to other servers (nil: none are
// made), and their signing keys.
type Federation struct {
	Memberships RemoteMembershipStore
	Client      MembershipFederation
	EventKeys   matrixevents.EventKeyLookup
}

// remoteDeps are the service's Federation and what bounds it.
type remoteDeps struct {
	Federation
	store     RemoteMembershipStore
	listeners []func(userID string, pos int64)
	// invites limit the rate of invites each local user receives from
	// other servers, guests' more tightly.
	invites, guestInvites *ratelimit.Limiter
	// none are the users known to have none (remotenone.go).
	none remoteNone
}

// UseFederation gives the service f; until then memberships in other
// servers' rooms are neither kept nor made.
func (s *Service) UseFederation(f Federation) {
	s.remote.Federation = f
	s.remote.store = f.Memberships
	s.remote.invites = ratelimit.New(remoteInvitesPerSecond, remoteInviteBurst)
	s.remote.guestInvites = ratelimit.New(guestRemoteInvitesPerSecond, guestRemoteInviteBurst)
}
