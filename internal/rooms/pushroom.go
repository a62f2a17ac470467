package rooms

import (
	"context"
	"encoding/json"

	"foyer/internal/rooms/matrixevents"
)

// PushRoom is what push notifications need of a room's current state:
// who of this server to evaluate, the member count and power levels the
// rules test, and the names a gateway shows. It is built once per state
// change and shared read-only, so a busy room of thousands costs one
// scan of its state per state change, not one per message.
type PushRoom struct {
	// JoinedMembers counts every joined member, of any server.
	JoinedMembers int
	// LocalMembers maps this server's joined users to their display
	// names in the room ("" when they have none).
	LocalMembers map[string]string
	// LocalInvited are this server's invited users.
	LocalInvited map[string]bool
	// NotificationLevels is the power levels' "notifications" object.
	NotificationLevels map[string]int64
	Name               string
	CanonicalAlias     string

	levels       powerLevels
	displayNames map[string]string
}

// memberName is a member's display name as its member event gives it,
// and whether the member is of this server.
type memberName struct {
	eventID     string
	displayName string
	local       bool
}

// SenderLevel is a user's power level in the room.
func (p *PushRoom) SenderLevel(userID string) int64 { return p.levels.userLevel(userID) }

// DisplayName is a member's display name in the room, "" when none.
func (p *PushRoom) DisplayName(userID string) string { return p.displayNames[userID] }

// PushRoomFor returns the room's PushRoom, built from its current state
// when the state changed since it was last asked for.
func (s *Service) PushRoomFor(ctx context.Context, roomID string) (*PushRoom, error) {
	e, err := s.lockRoomRead(ctx, roomID)
	if err != nil {
		return nil, err
	}
	defer e.mu.Unlock()
	if e.pushRoom != nil {
		return e.pushRoom, nil
	}
	snap := RoomSnapshot{Info: e.info, State: e.state}
	p := &PushRoom{
		LocalMembers:       map[string]string{},
		LocalInvited:       map[string]bool{},
		NotificationLevels: map[string]int64{},
		levels:             parsePowerLevels(snap),
		displayNames:       map[string]string{},
	}
	names := make(map[string]memberName, len(e.memberNames))
	for k, se := range e.state {
		if k.Type != matrixevents.TypeMember {
			continue
		}
		membership := se.Event.Membership()
		if membership != "join" && membership != "invite" {
			continue
		}
		// A state change is usually one member's: the others' names are
		// the ones of the last build, decoded then.
		name, ok := e.memberNames[k.StateKey]
		if !ok || name.eventID != se.Event.EventID() {
			var c struct {
				DisplayName string `json:"displayname"`
			}
			_ = json.Unmarshal(se.Event.Content(), &c)
			_, server, _ := matrixevents.SplitUserID(k.StateKey)
			name = memberName{eventID: se.Event.EventID(), displayName: c.DisplayName, local: server == s.serverName}
		}
		names[k.StateKey] = name
		p.displayNames[k.StateKey] = name.displayName
		switch {
		case membership == "join":
			p.JoinedMembers++
			if name.local {
				p.LocalMembers[k.StateKey] = name.displayName
			}
		case name.local:
			p.LocalInvited[k.StateKey] = true
		}
	}
	e.memberNames = names
	if se, ok := snap.Get("m.room.power_levels", ""); ok {
		var c struct {
			Notifications map[string]flexInt `json:"notifications"`
		}
		_ = json.Unmarshal(se.Event.Content(), &c)
		for k, v := range c.Notifications {
			p.NotificationLevels[k] = int64(v)
		}
	}
	if se, ok := snap.Get("m.room.name", ""); ok {
		var c struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(se.Event.Content(), &c)
		p.Name = c.Name
	}
	if se, ok := snap.Get("m.room.canonical_alias", ""); ok {
		var c struct {
			Alias string `json:"alias"`
		}
		_ = json.Unmarshal(se.Event.Content(), &c)
		p.CanonicalAlias = c.Alias
	}
	e.pushRoom = p
	return p, nil
}
