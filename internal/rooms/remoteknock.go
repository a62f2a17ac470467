package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"foyer/internal/federationclient"
	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// KnockThrough knocks on roomID for userID: in a room this server is in,
// locally; otherwise through other servers (via, then the server the
// room ID names) with make_knock and send_knock. The knock the room's
// server accepted is kept as the user's remote membership with the
// room's state from the answer (knock_room_state), which /sync shows in
// rooms.knock.
func (s *Service) KnockThrough(ctx context.Context, roomID, userID, reason string, via []string) error {
	if local, err := s.inRoomHere(ctx, roomID); err != nil || local {
		if err != nil {
			return err
		}
		return s.Knock(ctx, roomID, userID, reason)
	}
	if s.remote.store == nil || s.remote.Client == nil {
		return refusal.New(refusal.NotFound, "there is no room %s on this server", roomID)
	}
	var named []string
	for _, server := range via {
		if matrixevents.ValidServerName(server) {
			named = append(named, server)
		}
	}
	servers := roomServers(roomID, named...)
	sent, err := s.sendRemoteMembership(ctx, servers, roomID, userID, "knock", reason, matrixevents.SupportedVersions())
	if err != nil {
		return remoteRefusal("knock on", roomID, err)
	}
	if !matrixevents.SupportsKnocking(sent.Event.Version()) {
		return refusal.New(refusal.Forbidden, "room %s's version does not allow knocking", roomID)
	}
	var answer struct {
		State []json.RawMessage `json:"knock_room_state"`
	}
	_ = json.Unmarshal(sent.Answer, &answer)
	if len(answer.State) > maxInviteStateEvents {
		answer.State = answer.State[:maxInviteStateEvents]
	}
	state, err := json.Marshal(answer.State)
	if err != nil {
		return err
	}
	maxPending := maxPendingRemote
	if guest, err := s.isGuest(ctx, userID); err != nil {
		return err
	} else if guest {
		maxPending = guestMaxPendingRemote
	}
	m := RemoteMembership{UserID: userID, RoomID: roomID, Membership: "knock", EventID: sent.Event.EventID(),
		RoomVersion: sent.Event.Version(), Event: sent.Event.JSON(), State: state, Servers: roomServers(roomID, append([]string{sent.Server}, servers...)...)}
	if err := s.putRemote(ctx, m, maxPending); errors.Is(err, ErrRemoteMembershipCap) {
		return refusal.New(refusal.Forbidden, "you have too many pending invites and knocks")
	} else if err != nil {
		return err
	}
	return nil
}

// inRoomHere reports whether this server is in roomID: it knows the room
// and a local user is joined.
func (s *Service) inRoomHere(ctx context.Context, roomID string) (bool, error) {
	if _, err := s.store.GetRoom(ctx, roomID); errors.Is(err, ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return false, err
	}
	return snap.hasLocalMember(s.serverName), nil
}

// remoteRefusal is a client's error for another server's refusal: its
// 403 and 404 as they were, anything else (an unreachable server among
// them) a 403 naming the cause.
func remoteRefusal(action, roomID string, err error) error {
	if re, ok := federationclient.RemoteError(err); ok {
		switch re.Status {
		case http.StatusNotFound:
			return refusal.New(refusal.NotFound, "%s: %s", re.Destination, re.Message)
		case http.StatusForbidden:
			return refusal.New(refusal.Forbidden, "%s: %s", re.Destination, re.Message)
		}
	}
	return refusal.New(refusal.Forbidden, "cannot %s %s: %v", action, roomID, err)
}
