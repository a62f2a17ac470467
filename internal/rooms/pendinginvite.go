package rooms

import (
	"context"
	"errors"
	"slices"
)

// PendingInviteServers returns the servers to ask, in order, to join
// roomID for userID, who is invited to it over federation: the inviting
// server, then the server the room ID names. It returns none when the
// user has no such invite pending (none received, or one that was
// rejected, or superseded by the user's membership in the room's state
// here).
func (s *Service) PendingInviteServers(ctx context.Context, roomID, userID string) ([]string, error) {
	m, ok, err := s.pendingRemote(ctx, roomID, userID)
	if err != nil || !ok || m.Membership != "invite" {
		return nil, err
	}
	return slices.DeleteFunc(slices.Clone(m.Servers), func(server string) bool { return server == s.serverName }), nil
}

// pendingRemote returns the user's remote membership in roomID when it is
// a pending one (invite or knock) that the user's membership in the
// room's state here, if any, does not supersede.
func (s *Service) pendingRemote(ctx context.Context, roomID, userID string) (RemoteMembership, bool, error) {
	if s.remote.store == nil {
		return RemoteMembership{}, false, nil
	}
	m, err := s.remote.store.RemoteMembership(ctx, userID, roomID)
	if errors.Is(err, ErrNotFound) {
		return RemoteMembership{}, false, nil
	}
	if err != nil {
		return RemoteMembership{}, false, err
	}
	if m.Membership != "invite" && m.Membership != "knock" {
		return RemoteMembership{}, false, nil
	}
	if _, err := s.store.GetRoom(ctx, roomID); errors.Is(err, ErrNotFound) {
		return m, true, nil
	} else if err != nil {
		return RemoteMembership{}, false, err
	}
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return RemoteMembership{}, false, err
	}
	if se, ok := snap.Get("m.room.member", userID); ok && se.StreamPos > m.StreamPos {
		return RemoteMembership{}, false, nil
	}
	return m, true, nil
}
