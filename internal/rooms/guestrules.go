package rooms

import (
	"context"
	"encoding/json"
	"slices"

	"foyer/internal/guest"
	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// guestCanJoin reports whether the snapshot's m.room.guest_access lets
// guests join (G-19).
func guestCanJoin(snap RoomSnapshot) bool {
	se, ok := snap.Get("m.room.guest_access", "")
	if !ok {
		return false
	}
	return guest.GuestAccessAllowsJoin(se.Event.Content())
}

// checkMembershipPolicy applies the server's own rules to a membership
// change before the auth rules run: guests join only rooms that allow
// guests (an invite does not exempt them), and guests cannot invite,
// kick or ban.
func (s *Service) checkMembershipPolicy(ctx context.Context, snap RoomSnapshot, sender, target string, content json.RawMessage) error {
	return s.checkMembershipPolicyWith(ctx, snap, sender, target, content, membershipPolicy{})
}

// membershipPolicy relaxes checkMembershipPolicy for a membership change
// the server makes itself. The zero value relaxes nothing.
type membershipPolicy struct {
	// guestMayInvite lets a guest sender invite (InviteAs). Kicks and
	// bans by guests stay refused, and the auth rules still apply.
	guestMayInvite bool
}

func (s *Service) checkMembershipPolicyWith(ctx context.Context, snap RoomSnapshot, sender, target string, content json.RawMessage, policy membershipPolicy) error {
	var c struct {
		Membership string `json:"membership"`
	}
	_ = json.Unmarshal(content, &c)
	senderIsGuest, err := s.isGuest(ctx, sender)
	if err != nil {
		return err
	}
	if senderIsGuest && target != sender && (c.Membership == "ban" || c.Membership == "leave" ||
		(c.Membership == "invite" && !policy.guestMayInvite)) {
		return refusal.New(refusal.GuestForbidden, "guests cannot invite, kick or ban; register an account to do that")
	}
	if senderIsGuest && target == sender && (c.Membership == "join" || c.Membership == "knock") && !guestCanJoin(snap) {
		return refusal.New(refusal.GuestForbidden, "this room does not allow guests to join; register an account to join it")
	}
	return nil
}

// afterStateChange applies G-20: when a room stops allowing guests —
// by a new m.room.guest_access event or the redaction of one — every
// local guest who is joined, invited or knocking is made to leave, each
// by its own leave event, in the same write path. changed holds the
// events just stored; redacted is the ID of a redacted event, if any.
func (s *Service) afterStateChange(ctx context.Context, e *roomEntry, changed []matrixevents.Event, redacted string) error {
	touched := redacted != ""
	for _, ev := range changed {
		if ev.Type() == "m.room.guest_access" {
			touched = true
		}
	}
	if !touched {
		return nil
	}
	snap := RoomSnapshot{Info: e.info, State: e.state}
	if guestCanJoin(snap) {
		return nil
	}
	// All the leaves go into one draft, committed together: a draft per
	// guest would copy the room's state once per guest.
	d := newDraft(e)
	for tuple, se := range e.state {
		if tuple.Type != "m.room.member" || !slices.Contains(guest.MembershipsRemovedOnRevoke, se.Event.Membership()) {
			continue
		}
		userID := tuple.StateKey
		if _, server, ok := matrixevents.SplitUserID(userID); !ok || server != s.serverName {
			continue
		}
		isGuest, err := s.isGuest(ctx, userID)
		if err != nil {
			return err
		}
		if !isGuest {
			continue
		}
		sk := userID
		if _, err := s.add(d, eventRequest{Sender: userID, Type: "m.room.member", StateKey: &sk,
			Content: map[string]any{"membership": "leave", "reason": "guest access was turned off in this room"}}); err != nil {
			// An invited or knocking guest's own leave is always allowed;
			// log and continue with the others.
			s.log.WarnContext(ctx, "could not remove guest", "room_id", e.info.RoomID, "user_id", userID, "err", err)
			continue
		}
	}
	_, err := s.commit(ctx, e, d, false, nil, nil)
	return err
}

// guestRoomCap is the RoomCap for a draft that joins a local guest to
// this room, or nil. before is the room's state before the draft.
func (s *Service) guestRoomCap(ctx context.Context, before map[matrixevents.StateTuple]StoredEvent, d *draft) (*RoomCap, error) {
	if s.guestMaxRooms <= 0 {
		return nil, nil
	}
	for _, pe := range d.events {
		ev := pe.Event
		sk := ev.StateKey()
		if ev.Type() != "m.room.member" || sk == nil || *sk != ev.Sender() || ev.Membership() != "join" {
			continue
		}
		if prev, ok := before[tupleOf(ev)]; ok && prev.Event.Membership() == "join" {
			// A profile change in a room it is in already.
			continue
		}
		guest, err := s.isGuest(ctx, ev.Sender())
		if err != nil {
			return nil, err
		}
		if guest {
			return &RoomCap{UserID: ev.Sender(), Max: s.guestMaxRooms}, nil
		}
	}
	return nil, nil
}

// roomCapRefusal is what a guest hears when the cap refuses its join.
func roomCapRefusal(max int) error {
	return &refusal.Error{Kind: refusal.LimitExceeded, Msg: guest.RoomCapReason(max), RetryAfter: guest.CapRetryAfter}
}
