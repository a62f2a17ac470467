package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"foyer/internal/accounts"
	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// Bounds on what other servers can make a local user keep: pending
// invites and knocks in rooms this server is not in, and the rate of
// invites received (a burst, then one per interval); guests' tighter.
const (
	maxPendingRemote      = 100
	guestMaxPendingRemote = 5

	remoteInviteBurst           = 20
	remoteInvitesPerSecond      = 1.0 / 10
	guestRemoteInviteBurst      = 10
	guestRemoteInvitesPerSecond = 1.0 / 60
	maxInviteStateEvents        = 50
	maxInviteStateEventBytes    = 65536
)

// InboundInvite is an invite another server asks this one to sign.
type InboundInvite struct {
	// Origin is the server asking, as its request's signature proves.
	Origin string
	// Event is the invite as sent, parsed for its room version.
	Event matrixevents.Event
	// State is invite_room_state: events that show the invitee the room.
	State []json.RawMessage
}

// ReceiveInvite signs another server's invite of a local user: the event
// must be an invite of a user of this server by a user of the asking
// server, signed by that server (400 M_INVALID_PARAM otherwise, as the
// spec advises). In a room this server is in, the invite enters the room
// like any event, even of a user who does not exist (the room's other
// servers have it too). Otherwise the invitee must be a live user (404)
// and the invite is kept as the user's remote membership, so that /sync
// shows it, within the caps on pending invites and the rate of invites a
// user receives. It returns the event with this server's signature added.
func (s *Service) ReceiveInvite(ctx context.Context, in InboundInvite) (matrixevents.Event, error) {
	if s.remote.store == nil {
		return matrixevents.Event{}, refusal.New(refusal.Forbidden, "this server does not take invites from other servers")
	}
	ev := in.Event
	if ev.Type() != matrixevents.TypeMember || ev.StateKey() == nil || ev.Membership() != "invite" {
		return matrixevents.Event{}, refusal.New(refusal.InvalidParam, "the event is not an invite")
	}
	if _, server, ok := matrixevents.SplitUserID(ev.Sender()); !ok || server != in.Origin {
		return matrixevents.Event{}, refusal.New(refusal.InvalidParam, "the inviter %s is not of %s, the server asking", ev.Sender(), in.Origin)
	}
	invitee := *ev.StateKey()
	if _, server, ok := matrixevents.SplitUserID(invitee); !ok || server != s.serverName {
		return matrixevents.Event{}, refusal.New(refusal.InvalidParam, "the invitee %s is not of this server", invitee)
	}
	if err := checkInviteState(ev, in.State); err != nil {
		return matrixevents.Event{}, err
	}
	// A server the room's ACL denies learns nothing more, not even
	// whether the invitee exists.
	known, err := s.inviteRoom(ctx, ev.RoomID(), in.Origin)
	if err != nil {
		return matrixevents.Event{}, err
	}
	user, err := s.accounts.GetUser(ctx, invitee)
	if err != nil && !errors.Is(err, accounts.ErrNotFound) {
		return matrixevents.Event{}, err
	}
	// An invite of nobody still enters a room this server is in, as the
	// other servers of the room will have it; elsewhere nothing is kept.
	noSuchUser := err != nil || user.Deactivated
	if noSuchUser && known == nil {
		return matrixevents.Event{}, refusal.New(refusal.NotFound, "there is no user %s", invitee)
	}
	// Signed first: the spec has the invitee's server sign too, and the
	// check below wants every signature, the asking server's among them.
	signed, err := matrixevents.SignEvent(ev, s.serverName, s.key)
	if err != nil {
		return matrixevents.Event{}, refusal.New(refusal.InvalidParam, "cannot sign the invite: %v", err)
	}
	if err := matrixevents.VerifyEventSignatures(ctx, signed, s.remote.EventKeys); err != nil {
		return matrixevents.Event{}, refusal.New(refusal.Forbidden, "the invite's signatures do not check: %v", err)
	}
	guest := user.Kind == accounts.KindGuest
	limiter, maxPending := s.remote.invites, maxPendingRemote
	if guest {
		limiter, maxPending = s.remote.guestInvites, guestMaxPendingRemote
	}
	if ok, wait := limiter.Allow(invitee); !ok {
		return matrixevents.Event{}, &refusal.Error{Kind: refusal.LimitExceeded, RetryAfter: wait,
			Msg: "this user receives too many invites; try again later"}
	}
	if done, err := s.inviteIntoKnownRoom(ctx, known, signed); done || err != nil {
		return signed, err
	}
	if noSuchUser {
		return matrixevents.Event{}, refusal.New(refusal.NotFound, "there is no user %s", invitee)
	}
	state, err := json.Marshal(in.State)
	if err != nil {
		return matrixevents.Event{}, err
	}
	m := RemoteMembership{UserID: invitee, RoomID: ev.RoomID(), Membership: "invite", EventID: ev.EventID(),
		RoomVersion: ev.Version(), Event: signed.JSON(), State: state, Servers: roomServers(ev.RoomID(), in.Origin)}
	if err := s.putRemote(ctx, m, maxPending); errors.Is(err, ErrRemoteMembershipCap) {
		return matrixevents.Event{}, refusal.New(refusal.Forbidden, "%s has too many pending invites", invitee)
	} else if err != nil {
		return matrixevents.Event{}, err
	}
	return signed, nil
}

// inviteRoom is the room an invite from origin is for, when a local user
// is joined to it here (nil otherwise), refusing an origin its server ACL
// denies.
func (s *Service) inviteRoom(ctx context.Context, roomID, origin string) (*RoomSnapshot, error) {
	if _, err := s.store.GetRoom(ctx, roomID); errors.Is(err, ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	snap, err := s.Current(ctx, roomID)
	if err != nil || !snap.hasLocalMember(s.serverName) {
		return nil, err
	}
	if acl, ok := snap.Get(TypeServerACL, ""); ok && !ServerACLAllows(acl.Event.Content(), origin) {
		return nil, refusal.New(refusal.Forbidden, "%s is denied by the server ACL of room %s", origin, roomID)
	}
	return &snap, nil
}

// inviteIntoKnownRoom puts an invite into a room this server is in
// (snap, from inviteRoom; nil: none) through the one write path (done),
// as its transaction would later. One the room's rules refuse here is
// still signed but kept nowhere (done): the signature only says the
// invitee's server heard of it, as other servers sign without checking,
// and the room's servers judge the event when it is sent into the room.
// One that refers to events this server lacks is kept as a remote
// membership instead (not done), until the inviting server's transaction
// brings them.
func (s *Service) inviteIntoKnownRoom(ctx context.Context, snap *RoomSnapshot, ev matrixevents.Event) (bool, error) {
	if snap == nil {
		return false, nil
	}
	// Checked first against current state, so that an invite the room
	// refuses is not stored (Receive keeps what it rejects).
	if !s.allowed(ctx, ev, authEventsFrom(ev, snap.State)) {
		return true, nil
	}
	_, err := s.Receive(ctx, ev)
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind == refusal.NotFound {
		return false, nil
	}
	return err == nil, err
}

// hasLocalMember reports whether a user of serverName is joined.
func (snap RoomSnapshot) hasLocalMember(serverName string) bool {
	for t, se := range snap.State {
		if t.Type != matrixevents.TypeMember || se.Event.Membership() != "join" {
			continue
		}
		if _, server, ok := matrixevents.SplitUserID(t.StateKey); ok && server == serverName {
			return true
		}
	}
	return false
}

// checkInviteState applies the spec's checks on invite_room_state that
// need no keys: a bounded list of state events of the invite's room, with
// the room's create event (required from room version 12 on, where the
// spec says servers should check, as the full event whose hash is the
// room ID; older servers may omit it).
func checkInviteState(ev matrixevents.Event, state []json.RawMessage) error {
	if len(state) > maxInviteStateEvents {
		return refusal.New(refusal.TooLarge, "invite_room_state has %d events; at most %d are taken", len(state), maxInviteStateEvents)
	}
	hashedID := false
	if f, ok := matrixevents.Features(ev.Version()); ok && f.RoomIDFromCreateEvent {
		hashedID = true
	}
	hasCreate := false
	for _, raw := range state {
		if len(raw) > maxInviteStateEventBytes {
			return refusal.New(refusal.TooLarge, "an invite_room_state event is larger than %d bytes", maxInviteStateEventBytes)
		}
		var e struct {
			Type     *string         `json:"type"`
			StateKey *string         `json:"state_key"`
			RoomID   *string         `json:"room_id"`
			Sender   string          `json:"sender"`
			Content  json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Type == nil || e.StateKey == nil {
			return refusal.New(refusal.InvalidParam, "every invite_room_state entry must be a state event")
		}
		if e.RoomID != nil && *e.RoomID != ev.RoomID() {
			return refusal.New(refusal.InvalidParam, "an invite_room_state event is of room %s, not %s", *e.RoomID, ev.RoomID())
		}
		if *e.Type == matrixevents.TypeCreate {
			hasCreate = true
			// The room ID is the create event's hash (MSC4291): the
			// event must be the full PDU that hashes to it (MSC4311),
			// which is what the invitee's clients are then shown.
			if hashedID {
				create, err := matrixevents.ParseUntrusted(ev.Version(), raw)
				if err != nil || create.RoomID() != ev.RoomID() {
					return refusal.New(refusal.InvalidParam, "the create event in invite_room_state is not the full event of room %s", ev.RoomID())
				}
			}
		}
	}
	if hashedID && !hasCreate {
		return refusal.New(refusal.InvalidParam, "invite_room_state lacks the room's create event")
	}
	return nil
}

// roomServers are the servers to ask about a room: first, then the one
// its ID names (room versions before 12), each once.
func roomServers(roomID string, first ...string) []string {
	var out []string
	if i := strings.IndexByte(roomID, ':'); i > 0 {
		first = append(first, roomID[i+1:])
	}
	for _, server := range first {
		if server != "" && !slices.Contains(out, server) {
			out = append(out, server)
		}
	}
	return out
}
