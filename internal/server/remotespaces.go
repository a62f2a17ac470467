package server

import (
	"context"
	"encoding/json"
	"fmt"

	"foyer/internal/federationclient"
	"foyer/internal/rooms"
)

// remoteSpaces lets the room service ask other servers for space
// hierarchies through the federation client.
type remoteSpaces struct{ client *federationclient.Client }

func (r remoteSpaces) SpaceHierarchy(ctx context.Context, destination, roomID string, suggestedOnly bool) (rooms.FederatedSpace, error) {
	answer, err := r.client.Hierarchy(ctx, destination, roomID, suggestedOnly)
	if err != nil {
		return rooms.FederatedSpace{}, err
	}
	var out rooms.FederatedSpace
	if err := json.Unmarshal(answer.Room, &out.Room); err != nil {
		return rooms.FederatedSpace{}, fmt.Errorf("%s's hierarchy of %s: %w", destination, roomID, err)
	}
	for _, raw := range answer.Children {
		// A malformed child is left out; the others still count.
		var c rooms.RoomSummary
		if json.Unmarshal(raw, &c) == nil && c.RoomID != "" {
			out.Children = append(out.Children, c)
		}
	}
	out.InaccessibleChildren = answer.InaccessibleChildren
	return out, nil
}
