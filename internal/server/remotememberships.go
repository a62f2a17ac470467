package server

import (
	"foyer/internal/rooms"
	"foyer/internal/storage"
)

// useRemoteMemberships lets the room service keep and make memberships
// in other servers' rooms: invites received, knocks sent, and the leaves
// that reject or retract them.
func useRemoteMemberships(svc *Services) {
	svc.Rooms.UseFederation(rooms.Federation{
		Memberships: storage.NewRemoteMembershipStore(svc.DB),
		Client:      svc.FederationClient,
		EventKeys:   svc.ServerKeys.EventKey,
	})
}
