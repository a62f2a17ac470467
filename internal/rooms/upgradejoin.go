package rooms

import (
	"context"
	"encoding/json"
)

// followUpgrade runs when this server first joins roomID, a room of
// another server: if the room replaces one this server knows (its create
// event names a predecessor whose tombstone names it back), this server's
// aliases of the old room move to it, and so does the old room's place in
// the published directory, as its own upgrades do (upgrade.go). The
// tombstone check keeps a room that merely claims a predecessor from
// taking its aliases.
func (s *Service) followUpgrade(ctx context.Context, roomID string) {
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return
	}
	create, ok := snap.Get("m.room.create", "")
	if !ok {
		return
	}
	var c struct {
		Predecessor struct {
			RoomID string `json:"room_id"`
		} `json:"predecessor"`
	}
	if json.Unmarshal(create.Event.Content(), &c) != nil || c.Predecessor.RoomID == "" {
		return
	}
	old, err := s.Current(ctx, c.Predecessor.RoomID)
	if err != nil {
		return
	}
	tomb, ok := old.Get("m.room.tombstone", "")
	if !ok {
		return
	}
	var t struct {
		Replacement string `json:"replacement_room"`
	}
	if json.Unmarshal(tomb.Event.Content(), &t) != nil || t.Replacement != roomID {
		return
	}
	if err := s.moveAliases(ctx, old.Info.RoomID, roomID); err != nil {
		s.log.WarnContext(ctx, "following a room upgrade: moving aliases", "room_id", roomID, "err", err)
	}
	if old.Info.IsPublic {
		for _, step := range []struct {
			room   string
			public bool
		}{{old.Info.RoomID, false}, {roomID, true}} {
			if err := s.setPublic(ctx, step.room, step.public); err != nil {
				s.log.WarnContext(ctx, "following a room upgrade: the published directory", "room_id", step.room, "err", err)
			}
		}
	}
}
