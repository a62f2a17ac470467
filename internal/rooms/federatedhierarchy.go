package rooms

import (
	"context"
	"errors"
	"maps"
	"slices"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// FederatedSpace is the answer to another server's GET
// /_matrix/federation/v1/hierarchy/{roomId}: the room with its
// m.space.child events, the summaries of its children that server may
// see, and the children here it may not.
type FederatedSpace struct {
	Room                 HierarchyRoom `json:"room"`
	Children             []RoomSummary `json:"children"`
	InaccessibleChildren []string      `json:"inaccessible_children"`
}

// maxFederatedChildren bounds the children summarised for another
// server, as Synapse does: a space's first 50 (its children_state lists
// them all).
const maxFederatedChildren = 50

// FederatedHierarchy answers origin's hierarchy request for roomID. As
// the spec says, it does not paginate and lists one level: the room, if
// origin could peek or join it, and each child this server is in, either
// summarised (origin could peek or join it) or named inaccessible.
// Children this server is not in are left out: it cannot speak for them.
// A room origin may not see is not found, like one this server is not in.
func (s *Service) FederatedHierarchy(ctx context.Context, origin, roomID string, suggestedOnly bool) (FederatedSpace, error) {
	notFound := refusal.New(refusal.NotFound, "there is no room %s here, or your server may not see it", roomID)
	snap, ok, err := s.participatingRoom(ctx, roomID)
	if err != nil {
		return FederatedSpace{}, err
	}
	if !ok {
		return FederatedSpace{}, notFound
	}
	if ok, err := s.serverMaySee(ctx, snap, origin); err != nil || !ok {
		if err != nil {
			return FederatedSpace{}, err
		}
		return FederatedSpace{}, notFound
	}
	children := spaceChildren(snap, suggestedOnly)
	sum := roomSummaryOf(snap)
	out := FederatedSpace{
		Room:                 HierarchyRoom{RoomSummary: sum, ChildrenState: strippedChildren(children)},
		Children:             []RoomSummary{},
		InaccessibleChildren: []string{},
	}
	for _, c := range children[:min(len(children), maxFederatedChildren)] {
		childID := *c.Event.StateKey()
		child, ok, err := s.participatingRoom(ctx, childID)
		if err != nil {
			return FederatedSpace{}, err
		}
		if !ok {
			continue
		}
		visible, err := s.serverMaySee(ctx, child, origin)
		if err != nil {
			return FederatedSpace{}, err
		}
		if visible {
			out.Children = append(out.Children, roomSummaryOf(child))
		} else {
			out.InaccessibleChildren = append(out.InaccessibleChildren, childID)
		}
	}
	return out, nil
}

// participatingRoom is roomID's current state when a user of this server
// is joined to it: otherwise what is stored may be stale, and the room is
// treated as unknown.
func (s *Service) participatingRoom(ctx context.Context, roomID string) (RoomSnapshot, bool, error) {
	snap, err := s.Current(ctx, roomID)
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind == refusal.NotFound {
		return RoomSnapshot{}, false, nil
	}
	if err != nil {
		return RoomSnapshot{}, false, err
	}
	return snap, slices.Contains(joinedServers(maps.Values(snap.State)), s.serverName), nil
}

// serverMaySee reports whether server could peek or join the room: it is
// world-readable, its join rule lets anyone join or knock, the server
// already has a member joined or invited there, or the room is restricted
// to a room in which the server has a joined member.
func (s *Service) serverMaySee(ctx context.Context, snap RoomSnapshot, server string) (bool, error) {
	sum := roomSummaryOf(snap)
	if sum.WorldReadable {
		return true, nil
	}
	switch sum.JoinRule {
	case "public", "knock", "knock_restricted":
		return true, nil
	}
	if hasMemberOf(snap, server, "join", "invite") {
		return true, nil
	}
	if sum.JoinRule == "restricted" {
		for _, id := range sum.AllowedRoomIDs {
			allowed, ok, err := s.participatingRoom(ctx, id)
			if err != nil {
				return false, err
			}
			if ok && hasMemberOf(allowed, server, "join") {
				return true, nil
			}
		}
	}
	return false, nil
}

// hasMemberOf reports whether a user of server has one of memberships in
// the room.
func hasMemberOf(snap RoomSnapshot, server string, memberships ...string) bool {
	for k, se := range snap.State {
		if k.Type != matrixevents.TypeMember {
			continue
		}
		if _, s, ok := matrixevents.SplitUserID(k.StateKey); ok && s == server && slices.Contains(memberships, se.Event.Membership()) {
			return true
		}
	}
	return false
}

// strippedChildren renders m.space.child events as children_state has
// them.
func strippedChildren(children []StoredEvent) []StrippedChild {
	out := make([]StrippedChild, 0, len(children))
	for _, c := range children {
		out = append(out, StrippedChild{
			Type: c.Event.Type(), StateKey: *c.Event.StateKey(), Content: c.Event.Content(),
			Sender: c.Event.Sender(), OriginServerTS: c.Event.OriginServerTS(),
		})
	}
	return out
}
