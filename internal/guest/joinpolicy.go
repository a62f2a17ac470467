package guest

import "context"

// CheckJoin applies Foyer's own rules to a guest joining a room by
// itself (POST /join, /rooms/{roomId}/join, or its own m.room.member
// through the state endpoint), on top of G-19, which the room service
// enforces everywhere:
//
//   - guest_access.forbid_public_rooms: no rooms listed in the public
//     room directory (Third Room's rule). Rooms reached through a guest
//     link are joined by Redeem, which does not come here.
//   - guest_access.max_rooms: the room cap (CheckRoomCap).
//
// A room the guest has joined already is always fine.
func (s *Service) CheckJoin(ctx context.Context, userID, roomID string) error {
	facts, err := s.rooms.GuestFacts(ctx, roomID, userID)
	if err != nil {
		return err
	}
	if !facts.Exists || facts.Membership == "join" {
		// The room service answers for rooms that do not exist.
		return nil
	}
	if s.opts.Access.ForbidPublicRooms && facts.IsPublic {
		return ErrPublicRoom
	}
	return s.CheckRoomCap(ctx, userID, roomID)
}
