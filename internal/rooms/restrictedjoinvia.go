package rooms

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// joinRestrictedThroughInviters joins a local user to a restricted room
// this server is in when no user of this server may invite, as Synapse
// does: through another server of the room whose joined user may, which
// checks the conditions, names that user and signs the join (make_join,
// send_join). The join it sends back is received here as any event of the
// room, the events this server lacks fetched from that server. refused is
// the local refusal, returned when no other server can authorise the join.
func (s *Service) joinRestrictedThroughInviters(ctx context.Context, roomID, userID string, extra map[string]any, refused error) error {
	// A guest's local joins are bounded by the guest room cap, which a
	// join received from elsewhere would not count: guests are not joined
	// this way.
	if guest, err := s.isGuest(ctx, userID); err != nil || guest {
		return cmp.Or(err, refused)
	}
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return err
	}
	servers := remoteInviterServers(snap, s.serverName)
	if len(servers) == 0 {
		return refused
	}
	ctx, cancel := context.WithTimeout(ctx, RemoteJoinTimeout)
	defer cancel()
	content := s.memberContent(ctx, userID, "join")
	for k, v := range extra {
		content[k] = v
	}
	content["membership"] = "join"
	for _, server := range servers {
		joined, err := s.joinResidentThrough(ctx, server, snap.Info.Version, roomID, userID, content)
		var re *refusal.Error
		switch {
		case errors.As(err, &re):
			return err
		case err != nil:
			s.log.InfoContext(ctx, "joining a restricted room through another of its servers failed", "room_id", roomID, "server", server, "err", err)
			if r := restrictedJoinRefusal(err); r != nil {
				refused = r
			}
			continue
		}
		// That server has the join now: it is kept even if the client
		// has gone meanwhile.
		got, err := s.ReceiveFrom(context.WithoutCancel(ctx), server, joined, NewFetchBudget(DefaultFetchBudget))
		if err != nil {
			return err
		}
		if got.Rejected || got.SoftFailed {
			return refusal.New(refusal.Forbidden, "the room's authorisation rules do not allow this join")
		}
		return nil
	}
	return refused
}

// joinResidentThrough makes the join through server and sends it, and
// returns the join that server answers with, its signature checked. A
// refusal is the room's answer, for the client.
func (s *Service) joinResidentThrough(ctx context.Context, server, version, roomID, userID string, content map[string]any) (matrixevents.Event, error) {
	made, err := s.joins.MakeJoin(ctx, server, roomID, userID, []string{version})
	if err != nil {
		return matrixevents.Event{}, relayRemote(err)
	}
	if made.RoomVersion != version {
		return matrixevents.Event{}, fmt.Errorf("%s says room %s is version %q, this server has it as %s", server, roomID, made.RoomVersion, version)
	}
	ours, err := s.signTemplate(version, made.Event, roomID, userID, "join", content)
	if err != nil {
		return matrixevents.Event{}, err
	}
	answer, err := s.joins.SendJoin(ctx, server, roomID, ours.EventID(), ours.JSON())
	if err != nil {
		return matrixevents.Event{}, relayRemote(err)
	}
	if len(answer.Event) == 0 {
		return matrixevents.Event{}, fmt.Errorf("%s answered send_join without the signed join", server)
	}
	theirs, err := matrixevents.ParseUntrusted(version, answer.Event)
	if err != nil || theirs.EventID() != ours.EventID() {
		return matrixevents.Event{}, fmt.Errorf("%s answered send_join with another join than the one sent", server)
	}
	if err := matrixevents.VerifyEventSignatures(ctx, theirs, s.eventKeys); err != nil {
		return matrixevents.Event{}, fmt.Errorf("the join %s answered: %w", server, err)
	}
	return theirs, nil
}

// remoteInviterServers are the servers other than ours with a joined user
// whose power lets them invite, in name order.
func remoteInviterServers(snap RoomSnapshot, ours string) []string {
	pl := parsePowerLevels(snap)
	var out []string
	for k, se := range snap.State {
		if k.Type != matrixevents.TypeMember || se.Event.Membership() != "join" || pl.userLevel(k.StateKey) < pl.Invite {
			continue
		}
		if _, server, ok := matrixevents.SplitUserID(k.StateKey); ok && !strings.EqualFold(server, ours) && !slices.Contains(out, server) {
			out = append(out, server)
		}
	}
	slices.Sort(out)
	return out
}
