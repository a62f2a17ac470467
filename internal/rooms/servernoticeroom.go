package rooms

import (
	"context"

	"foyer/internal/refusal"
)

// A server-notices room is one the system user (Options.ServerNoticesUser)
// created for one user and invited them to. As in Synapse, its invite
// cannot be rejected, so notices keep reaching the user; once joined, the
// user may leave, and the next notice invites them back.

// CheckNoticeInviteRejection refuses a user's rejection of an invite the
// system user sent. Only the user's own request (POST /leave) is held to
// it: the server may still take the user out, as when a guest expires.
func (s *Service) CheckNoticeInviteRejection(ctx context.Context, roomID, userID string) error {
	if s.serverNoticesUser == "" || userID == s.serverNoticesUser {
		return nil
	}
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		// Leave gives the right answer for a room it cannot read.
		return nil
	}
	se, ok := snap.Get("m.room.member", userID)
	if !ok || se.Event.Membership() != "invite" || se.Event.Sender() != s.serverNoticesUser {
		return nil
	}
	return refusal.New(refusal.CannotLeaveServerNoticeRoom, "the invite to your server notices room cannot be rejected; join the room, then leave it if you wish")
}

// NoticeRoomOf finds the server-notices room of userID: a room the system
// user is joined to where the user is invited, joined or has left; ""
// when there is none.
func (s *Service) NoticeRoomOf(ctx context.Context, systemUser, userID string) (string, error) {
	candidates, err := s.store.RoomsWithMembership(ctx, userID, "invite", "join", "leave")
	if err != nil || len(candidates) == 0 {
		return "", err
	}
	// Two indexed reads, rather than loading each of the user's rooms.
	systemRooms, err := s.store.RoomsWithMembership(ctx, systemUser, "join")
	if err != nil {
		return "", err
	}
	ofSystem := make(map[string]bool, len(systemRooms))
	for _, roomID := range systemRooms {
		ofSystem[roomID] = true
	}
	for _, roomID := range candidates {
		if !ofSystem[roomID] {
			continue
		}
		snap, err := s.Current(ctx, roomID)
		if err != nil {
			return "", err
		}
		if snap.Info.Creator == systemUser {
			return roomID, nil
		}
	}
	return "", nil
}
