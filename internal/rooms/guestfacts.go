package rooms

import (
	"context"
	"encoding/json"
	"errors"

	"foyer/internal/guest"
	"foyer/internal/refusal"
)

// GuestFacts tells the guest policy (internal/guest) about a room and one
// user in it: whether it exists, admits guests (G-19) and is published in
// the room directory, its join rule, and the user's membership and power
// to invite. A room that does not exist is not an error: Exists is false.
func (s *Service) GuestFacts(ctx context.Context, roomID, userID string) (guest.RoomFacts, error) {
	snap, err := s.Current(ctx, roomID)
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind == refusal.NotFound {
		return guest.RoomFacts{}, nil
	}
	if err != nil {
		return guest.RoomFacts{}, err
	}
	facts := guest.RoomFacts{
		Exists:        true,
		GuestsCanJoin: guestCanJoin(snap),
		IsPublic:      snap.Info.IsPublic,
		JoinRule:      "invite",
	}
	if se, ok := snap.Get("m.room.join_rules", ""); ok {
		var c struct {
			JoinRule string `json:"join_rule"`
		}
		if json.Unmarshal(se.Event.Content(), &c) == nil && c.JoinRule != "" {
			facts.JoinRule = c.JoinRule
		}
	}
	if userID != "" {
		facts.Membership = snap.Membership(userID)
		facts.CanInvite = CanInvite(snap, userID)
	}
	return facts, nil
}

// MemberRoomsToLeave lists the rooms where userID is joined, invited or
// knocking: those a guest leaves when it is removed (as under G-20).
func (s *Service) MemberRoomsToLeave(ctx context.Context, userID string) ([]string, error) {
	return s.store.RoomsWithMembership(ctx, userID, guest.MembershipsRemovedOnRevoke...)
}

var _ guest.Rooms = (*Service)(nil)
