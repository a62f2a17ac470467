package rooms

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"foyer/internal/rooms/matrixevents"
)

// RemoteSpaces asks another server for a room's place in a space tree
// (GET /_matrix/federation/v1/hierarchy/{roomId}).
type RemoteSpaces interface {
	SpaceHierarchy(ctx context.Context, destination, roomID string, suggestedOnly bool) (FederatedSpace, error)
}

// SetRemoteSpaces lets Hierarchy ask other servers about rooms this
// server does not know. Call it before serving.
func (s *Service) SetRemoteSpaces(r RemoteSpaces) { s.remoteSpaces = r }

// Bounds on the other servers one hierarchy page asks: a slow or
// unreachable server costs at most remoteSpaceTimeout per request, and a
// page at most maxRemoteSpaceRequests requests.
const (
	maxRemoteSpaceRequests = 10
	maxViaPerRoom          = 3
	remoteSpaceTimeout     = 5 * time.Second
)

// remoteWalk is what other servers said during one hierarchy walk.
type remoteWalk struct {
	s             *Service
	userID        string
	suggestedOnly bool
	// summaries are children's summaries from their parent's answer.
	summaries map[string]RoomSummary
	// answers are the rooms asked for; nil when no server answered.
	answers      map[string]*FederatedSpace
	inaccessible map[string]bool
	requests     int
}

func (s *Service) newRemoteWalk(userID string, suggestedOnly bool) *remoteWalk {
	return &remoteWalk{s: s, userID: userID, suggestedOnly: suggestedOnly,
		summaries: map[string]RoomSummary{}, answers: map[string]*FederatedSpace{}, inaccessible: map[string]bool{}}
}

// room is a room this server does not know, when userID may see it: from
// its parent's answer when that summarised it and its children are not
// wanted (it is no space, or the walk stops there), as Synapse does, else
// from the servers in via.
func (w *remoteWalk) room(ctx context.Context, roomID string, via []string, wantChildren bool) (HierarchyRoom, []childRef, bool, error) {
	if w.s.remoteSpaces == nil || w.inaccessible[roomID] {
		return HierarchyRoom{}, nil, false, nil
	}
	answer, asked := w.answers[roomID]
	if sum, known := w.summaries[roomID]; !asked && known && (sum.RoomType != "m.space" || !wantChildren) {
		asked = true
	}
	if !asked {
		answer = w.ask(ctx, roomID, via)
	}
	var room HierarchyRoom
	switch {
	case answer != nil:
		room = answer.Room
	case w.summaries[roomID].RoomID == roomID:
		// Its parent's answer summarised it (and no server was asked, or
		// none answered): listed without its children.
		room = HierarchyRoom{RoomSummary: w.summaries[roomID]}
	default:
		return HierarchyRoom{}, nil, false, nil
	}
	if room.RoomID != roomID {
		return HierarchyRoom{}, nil, false, nil
	}
	ok, err := w.s.remoteRoomVisible(ctx, w.userID, room.RoomSummary)
	if err != nil || !ok {
		return HierarchyRoom{}, nil, false, err
	}
	room.Membership = ""
	room.ChildrenState = validRemoteChildren(room.ChildrenState, w.suggestedOnly)
	refs := make([]childRef, 0, len(room.ChildrenState))
	for _, c := range room.ChildrenState {
		refs = append(refs, childRef{roomID: c.StateKey, via: viaOf(c.Content)})
	}
	return room, refs, true, nil
}

// ask requests roomID's hierarchy from up to maxViaPerRoom of via, within
// the walk's bound, and keeps what the first answer says.
func (w *remoteWalk) ask(ctx context.Context, roomID string, via []string) *FederatedSpace {
	w.answers[roomID] = nil
	tried := 0
	for _, server := range via {
		if server == w.s.serverName || !matrixevents.ValidServerName(server) {
			continue
		}
		if tried == maxViaPerRoom || w.requests == maxRemoteSpaceRequests || ctx.Err() != nil {
			break
		}
		tried++
		w.requests++
		rctx, cancel := context.WithTimeout(ctx, remoteSpaceTimeout)
		answer, err := w.s.remoteSpaces.SpaceHierarchy(rctx, server, roomID, w.suggestedOnly)
		cancel()
		if err != nil {
			w.s.log.DebugContext(ctx, "asking another server for a space hierarchy", "server", server, "room_id", roomID, "err", err)
			continue
		}
		for _, c := range answer.Children {
			if c.RoomID != "" && c.RoomID != roomID {
				w.summaries[c.RoomID] = c
			}
		}
		for _, id := range answer.InaccessibleChildren {
			w.inaccessible[id] = true
		}
		w.answers[roomID] = &answer
		return &answer
	}
	return nil
}

// remoteRoomVisible says whether userID may see a room summarised by
// another server, as Synapse decides: anyone may see a world-readable,
// public or knockable room; others need membership of a room it is
// restricted to, or their own membership (joined or invited) here.
func (s *Service) remoteRoomVisible(ctx context.Context, userID string, sum RoomSummary) (bool, error) {
	if sum.WorldReadable {
		return true, nil
	}
	switch sum.JoinRule {
	case "public", "knock", "knock_restricted":
		return true, nil
	}
	if len(sum.AllowedRoomIDs) > 0 {
		// The user's rooms from the store: the IDs come from another
		// server, and looking each up would load (and cache) rooms.
		joined, err := s.JoinedRooms(ctx, userID)
		if err != nil {
			return false, err
		}
		for _, id := range sum.AllowedRoomIDs {
			if slices.Contains(joined, id) {
				return true, nil
			}
		}
	}
	if snap, err := s.Current(ctx, sum.RoomID); err == nil {
		switch snap.Membership(userID) {
		case "join", "invite":
			return true, nil
		}
	}
	return false, nil
}

// validRemoteChildren keeps another server's m.space.child entries that
// are valid (a room ID, a non-empty via of strings), suggested ones only
// if asked, in the spec's order, as spaceChildren does for local rooms.
func validRemoteChildren(children []StrippedChild, suggestedOnly bool) []StrippedChild {
	var spaceChildren []StrippedChild
	for _, c := range children {
		if c.Type == "m.space.child" {
			spaceChildren = append(spaceChildren, c)
		}
	}
	return orderedSpaceChildren(spaceChildren, func(c StrippedChild) (string, json.RawMessage, int64) {
		return c.StateKey, c.Content, c.OriginServerTS
	}, suggestedOnly)
}

// viaOf is an m.space.child content's via: the servers to ask for the
// child; nil when it is missing or not a list of strings.
func viaOf(content json.RawMessage) []string {
	var c struct {
		Via []string `json:"via"`
	}
	if json.Unmarshal(content, &c) != nil {
		return nil
	}
	return c.Via
}
