package rooms

import "context"

// NotifyContext is what push rules need to know about a room for one
// user: member count, the user's display name there, and power levels.
// Its maps are shared: read them only.
type NotifyContext struct {
	JoinedMembers      int
	DisplayName        string
	NotificationLevels map[string]int64
	levels             powerLevels
}

// SenderLevel is a user's power level in the room.
func (c NotifyContext) SenderLevel(userID string) int64 { return c.levels.userLevel(userID) }

// NotifyContextFor is what push rules need of a room's current state on
// behalf of userID, from the room's PushRoom: parsed once per state
// change, not once per sync that counts unread events.
func (s *Service) NotifyContextFor(ctx context.Context, roomID, userID string) (NotifyContext, error) {
	p, err := s.PushRoomFor(ctx, roomID)
	if err != nil {
		return NotifyContext{}, err
	}
	return NotifyContext{JoinedMembers: p.JoinedMembers, DisplayName: p.DisplayName(userID),
		NotificationLevels: p.NotificationLevels, levels: p.levels}, nil
}
