package rooms

import (
	"context"
	"encoding/json"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// setMembership sends a member event for target with sender's authority,
// after the server's own policy checks; the auth rules decide the rest.
func (s *Service) setMembership(ctx context.Context, roomID, sender, target, membership string, extra map[string]any) (string, error) {
	return s.setMembershipWith(ctx, roomID, sender, target, membership, extra, membershipPolicy{})
}

// setMembershipWith is setMembership with the server's policy relaxed as
// policy says (only server-internal changes relax it).
func (s *Service) setMembershipWith(ctx context.Context, roomID, sender, target, membership string, extra map[string]any, policy membershipPolicy) (string, error) {
	e, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return "", err
	}
	defer e.mu.Unlock()
	snap := RoomSnapshot{Info: e.info, State: e.state}
	current := snap.Membership(target)
	if membership == "join" && current == "join" && target == sender && len(extra) == 0 {
		// Already joined: nothing to do.
		se, _ := snap.Get("m.room.member", target)
		return se.Event.EventID(), nil
	}
	var content map[string]any
	if membership == "join" || membership == "invite" || membership == "knock" {
		content = s.memberContent(ctx, target, membership)
	} else {
		content = map[string]any{"membership": membership}
	}
	for k, v := range extra {
		content[k] = v
	}
	// Extra keys never change what the event is.
	content["membership"] = membership
	raw, _ := json.Marshal(content)
	if err := s.checkMembershipPolicyWith(ctx, snap, sender, target, raw, policy); err != nil {
		return "", err
	}
	if membership == "join" && target == sender {
		// A restricted room: who here vouches for the join (restrictedjoin.go).
		via, err := s.restrictedJoinAuthoriser(ctx, snap, target)
		if err != nil {
			return "", err
		}
		if via != "" {
			content["join_authorised_via_users_server"] = via
			raw, _ = json.Marshal(content)
		}
	}
	if membership == "invite" {
		if err := s.checkInvitee(ctx, target); err != nil {
			return "", err
		}
	}
	d := newDraft(e)
	key := target
	ev, err := s.add(d, eventRequest{Sender: sender, Type: "m.room.member", StateKey: &key, Content: raw})
	if err != nil {
		return "", err
	}
	if _, err := s.commit(ctx, e, d, false, nil, nil); err != nil {
		return "", err
	}
	return ev.EventID(), nil
}

func reasonExtra(reason string) map[string]any {
	if reason == "" {
		return nil
	}
	return map[string]any{"reason": reason}
}

// Join joins userID to a local room. Guests need can_join (G-19).
func (s *Service) Join(ctx context.Context, roomID, userID, reason string) error {
	_, err := s.setMembership(ctx, roomID, userID, userID, "join", reasonExtra(reason))
	return err
}

// serverSetMemberKeys are member-content keys a client cannot choose when
// joining: membership is the action itself, and the others carry the
// authority of a server or a third party (restricted-join authorisation,
// 3PID invites), not of the joining user.
var serverSetMemberKeys = []string{"membership", "join_authorised_via_users_server", "third_party_invite", "third_party_signed"}

// JoinWithContent is Join with the client's own keys in the member event,
// as Synapse does with the body of POST /join: content's keys (reason
// among them) go into the event, and displayname and avatar_url come from
// the profile unless content gives them.
func (s *Service) JoinWithContent(ctx context.Context, roomID, userID string, content map[string]json.RawMessage) error {
	return s.JoinVia(ctx, roomID, userID, content, JoinHints{})
}

// Leave leaves a room or rejects an invite; an invite or knock in a
// room of other servers is rejected or retracted through them
// (remoteleave.go).
func (s *Service) Leave(ctx context.Context, roomID, userID, reason string) error {
	if m, ok, err := s.pendingRemote(ctx, roomID, userID); err != nil {
		return err
	} else if ok {
		return s.leaveRemote(ctx, m, reason)
	}
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return err
	}
	if m := snap.Membership(userID); m == "" || m == "leave" {
		// Leaving a room one is not in succeeds quietly only if one was
		// ever there; otherwise it is an error.
		if m == "" {
			return refusal.New(refusal.Forbidden, "you are not a member of this room")
		}
		return nil
	}
	_, err = s.setMembership(ctx, roomID, userID, userID, "leave", reasonExtra(reason))
	return err
}

// Invite invites target on behalf of sender; a user of another server
// is invited through that server (outboundinvite.go).
func (s *Service) Invite(ctx context.Context, roomID, sender, target, reason string) error {
	if _, server, ok := matrixevents.SplitUserID(target); ok && server != s.serverName {
		return s.inviteRemote(ctx, roomID, sender, target, reason, membershipPolicy{})
	}
	_, err := s.setMembership(ctx, roomID, sender, target, "invite", reasonExtra(reason))
	return err
}

// InviteAs is an invite the server sends on inviter's behalf, not one a
// client asked for: the rename upgrade has a guest invite the account it
// continues as (internal/guest/rename.go). It differs from Invite in one
// way only: a guest inviter is not refused by the server's "guests cannot
// invite" rule, which guards what guests may do through the client API.
// Everything else holds — the invitee must be a live local user, and the
// room's auth rules decide (the inviter must be joined and have the power
// to invite) — and the invite is a real signed event like any other.
func (s *Service) InviteAs(ctx context.Context, roomID, inviter, target, reason string) error {
	_, err := s.setMembershipWith(ctx, roomID, inviter, target, "invite", reasonExtra(reason), membershipPolicy{guestMayInvite: true})
	return err
}

// Kick removes target from the room.
func (s *Service) Kick(ctx context.Context, roomID, sender, target, reason string) error {
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return err
	}
	if m := snap.Membership(target); m != "join" && m != "invite" && m != "knock" {
		return refusal.New(refusal.Forbidden, "%s is not in this room", target)
	}
	_, err = s.setMembership(ctx, roomID, sender, target, "leave", reasonExtra(reason))
	return err
}

// Ban bans target.
func (s *Service) Ban(ctx context.Context, roomID, sender, target, reason string) error {
	_, err := s.setMembership(ctx, roomID, sender, target, "ban", reasonExtra(reason))
	return err
}

// Unban lifts a ban (membership becomes leave).
func (s *Service) Unban(ctx context.Context, roomID, sender, target, reason string) error {
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return err
	}
	if snap.Membership(target) != "ban" {
		return refusal.New(refusal.Forbidden, "%s is not banned", target)
	}
	_, err = s.setMembership(ctx, roomID, sender, target, "leave", reasonExtra(reason))
	return err
}

// Knock asks to join a room whose join rule is knock.
func (s *Service) Knock(ctx context.Context, roomID, userID, reason string) error {
	_, err := s.setMembership(ctx, roomID, userID, userID, "knock", reasonExtra(reason))
	return err
}

// Forget hides a left room from the user for good; a room of other
// servers left by rejecting an invite or retracting a knock is forgotten
// by dropping that leave.
func (s *Service) Forget(ctx context.Context, roomID, userID string) error {
	if forgotten, err := s.forgetRemote(ctx, roomID, userID); err != nil || forgotten {
		return err
	}
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return err
	}
	switch snap.Membership(userID) {
	case "join", "invite", "knock":
		return refusal.New(refusal.InvalidParam, "leave the room before forgetting it")
	}
	return s.store.Forget(ctx, userID, roomID)
}

// JoinedRooms lists the rooms userID has joined.
func (s *Service) JoinedRooms(ctx context.Context, userID string) ([]string, error) {
	return s.store.RoomsWithMembership(ctx, userID, "join")
}

// RoomMates lists the users joined to any room userID has joined,
// userID included.
func (s *Service) RoomMates(ctx context.Context, userID string) ([]string, error) {
	joined, err := s.JoinedRooms(ctx, userID)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{userID: true}
	out := []string{userID}
	for _, roomID := range joined {
		snap, err := s.Current(ctx, roomID)
		if err != nil {
			return nil, err
		}
		for k, se := range snap.State {
			if k.Type == "m.room.member" && se.Event.Membership() == "join" && !seen[k.StateKey] {
				seen[k.StateKey] = true
				out = append(out, k.StateKey)
			}
		}
	}
	return out, nil
}

// SharesRoom reports whether a and b are both joined to some room.
func (s *Service) SharesRoom(ctx context.Context, a, b string) (bool, error) {
	if a == b {
		return true, nil
	}
	mates, err := s.RoomMates(ctx, a)
	if err != nil {
		return false, err
	}
	for _, m := range mates {
		if m == b {
			return true, nil
		}
	}
	return false, nil
}
