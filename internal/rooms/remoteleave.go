package rooms

import (
	"context"
	"encoding/json"
	"errors"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// leaveRemote rejects a remote invite or retracts a remote knock: the
// leave is made through make_leave and send_leave with the servers of m
// in turn (the inviting or knocked-through server, then the room ID's).
// When none can be reached the invite or knock is dropped here anyway,
// with a leave only this server knows, as Synapse does: a user must
// always be able to get rid of an invite. Either way the user's
// membership becomes that leave, which /sync shows in rooms.leave.
func (s *Service) leaveRemote(ctx context.Context, m RemoteMembership, reason string) error {
	sent, err := s.sendRemoteMembership(ctx, m.Servers, m.RoomID, m.UserID, "leave", reason, nil)
	ev := sent.Event
	if err != nil {
		s.log.WarnContext(ctx, "no server of the room took the leave; dropping it here only",
			"room_id", m.RoomID, "user_id", m.UserID, "err", err)
		if ev, err = s.localOutOfBandLeave(m, reason); err != nil {
			return err
		}
	}
	return s.putRemote(ctx, RemoteMembership{UserID: m.UserID, RoomID: m.RoomID, Membership: "leave",
		EventID: ev.EventID(), RoomVersion: ev.Version(), Event: ev.JSON(), Servers: m.Servers}, 0)
}

// sentMembership is a membership event another server accepted, with
// that server and its answer.
type sentMembership struct {
	Event  matrixevents.Event
	Server string
	Answer json.RawMessage
}

// sendRemoteMembership makes userID's membership (leave or knock) in a
// room of other servers through the make_ and send_ calls, asking
// servers in turn until one accepts; the whole is bounded in time.
// versions are make_knock's ver. It returns the last server's error when
// none accepts.
func (s *Service) sendRemoteMembership(ctx context.Context, servers []string, roomID, userID, membership, reason string, versions []string) (sentMembership, error) {
	if s.remote.Client == nil {
		return sentMembership{}, errors.New("this server does not federate")
	}
	ctx, cancel := context.WithTimeout(ctx, remoteCallTimeout)
	defer cancel()
	lastErr := errors.New("no server to ask")
	for _, server := range servers {
		if server == s.serverName {
			continue
		}
		template, version, err := s.remote.Client.MakeMembership(ctx, server, membership, roomID, userID, versions)
		if err != nil {
			lastErr = err
			continue
		}
		ev, err := s.membershipFromTemplate(template, version, roomID, userID, membership, reason)
		if err != nil {
			lastErr = err
			continue
		}
		answer, err := s.remote.Client.SendMembership(ctx, server, membership, roomID, ev.EventID(), ev.JSON())
		if err != nil {
			lastErr = err
			continue
		}
		return sentMembership{Event: ev, Server: server, Answer: answer}, nil
	}
	return sentMembership{}, lastErr
}

// forgetRemote forgets the user's remote leave of a room this server does
// not know (forgotten); a pending invite or knock must be left first.
func (s *Service) forgetRemote(ctx context.Context, roomID, userID string) (bool, error) {
	if s.remote.store == nil {
		return false, nil
	}
	if _, err := s.store.GetRoom(ctx, roomID); err == nil || !errors.Is(err, ErrNotFound) {
		return false, err
	}
	m, err := s.remote.store.RemoteMembership(ctx, userID, roomID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if m.Membership != "leave" {
		return false, refusal.New(refusal.InvalidParam, "leave the room before forgetting it")
	}
	return true, s.remote.store.DeleteRemoteMembership(ctx, userID, roomID)
}
