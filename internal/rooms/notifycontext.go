package rooms

import (
	"context"
	"encoding/json"
)

// NotifyContext is what push rules need to know about a room for one
// user: member count, the user's display name there, and power levels.
type NotifyContext struct {
	JoinedMembers      int
	DisplayName        string
	NotificationLevels map[string]int64
	levels             powerLevels
}

// SenderLevel is a user's power level in the room.
func (c NotifyContext) SenderLevel(userID string) int64 { return c.levels.userLevel(userID) }

// NotifyContextFor reads a room's current state for push evaluation on
// behalf of userID, without copying the state.
func (s *Service) NotifyContextFor(ctx context.Context, roomID, userID string) (NotifyContext, error) {
	e, err := s.lockRoomRead(ctx, roomID)
	if err != nil {
		return NotifyContext{}, err
	}
	defer e.mu.Unlock()
	snap := RoomSnapshot{Info: e.info, State: e.state}
	nc := NotifyContext{JoinedMembers: e.summaryLocked().Joined, levels: parsePowerLevels(snap), NotificationLevels: map[string]int64{}}
	if se, ok := snap.Get("m.room.member", userID); ok {
		var c struct {
			DisplayName string `json:"displayname"`
		}
		_ = json.Unmarshal(se.Event.Content(), &c)
		nc.DisplayName = c.DisplayName
	}
	if se, ok := snap.Get("m.room.power_levels", ""); ok {
		var c struct {
			Notifications map[string]flexInt `json:"notifications"`
		}
		_ = json.Unmarshal(se.Event.Content(), &c)
		for k, v := range c.Notifications {
			nc.NotificationLevels[k] = int64(v)
		}
	}
	return nc, nil
}
