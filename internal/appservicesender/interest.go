package appservicesender

import (
	"context"

	"foyer/internal/appservice"
	"foyer/internal/rooms/matrixevents"
)

// interest decides which events a service sees: those sent by its users,
// about its users (membership), in its rooms, in rooms with one of its
// aliases, and in rooms where one of its users is joined. Room answers
// are kept for one batch.
type interest struct {
	as    *appservice.Service
	feed  Feed
	rooms map[string]bool
}

func newInterest(as *appservice.Service, feed Feed) *interest {
	return &interest{as: as, feed: feed, rooms: map[string]bool{}}
}

func (i *interest) wants(ctx context.Context, ev matrixevents.Event) (bool, error) {
	if i.as.OwnsUser(ev.Sender()) {
		return true, nil
	}
	if ev.Type() == "m.room.member" {
		if sk := ev.StateKey(); sk != nil && i.as.OwnsUser(*sk) {
			return true, nil
		}
	}
	return i.wantsRoom(ctx, ev.RoomID())
}

// wantsRoom reports whether the service sees everything in roomID.
func (i *interest) wantsRoom(ctx context.Context, roomID string) (bool, error) {
	if v, ok := i.rooms[roomID]; ok {
		return v, nil
	}
	v, err := roomOfInterest(ctx, i.as, i.feed, roomID)
	if err != nil {
		return false, err
	}
	i.rooms[roomID] = v
	return v, nil
}

func roomOfInterest(ctx context.Context, as *appservice.Service, feed Feed, roomID string) (bool, error) {
	if as.OwnsRoom(roomID) {
		return true, nil
	}
	if len(as.Namespaces.Aliases) > 0 {
		aliases, err := feed.AliasesForRoom(ctx, roomID)
		if err != nil {
			return false, err
		}
		for _, a := range aliases {
			if as.OwnsAlias(a) {
				return true, nil
			}
		}
	}
	users, err := feed.JoinedUsers(ctx, roomID)
	if err != nil {
		return false, err
	}
	for _, u := range users {
		if as.OwnsUser(u) {
			return true, nil
		}
	}
	return false, nil
}
