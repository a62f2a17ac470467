package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// remoteCallTimeout bounds the calls to other servers that a client's
// request waits for (invites, knocks, rejections), whatever the client's
// own timeout.
const remoteCallTimeout = 30 * time.Second

// inviteStateTypes are the state events an invitee's server is given to
// show the room (the inviter's member event goes with them).
var inviteStateTypes = []string{matrixevents.TypeCreate, matrixevents.TypeJoinRules, "m.room.name", "m.room.avatar",
	"m.room.canonical_alias", "m.room.encryption", "m.room.topic"}

// inviteRemote invites a user of another server: the invite is built
// and authorised on the room's current state, then — with the room
// unlocked — the invitee's server is asked to sign it (PUT /invite), and
// the event it returns, checked to be the same event with both servers'
// signatures, enters the room through the one write path, which sends it
// to the room's servers. The invitee's server's refusal is the client's
// (403), and nothing is stored.
func (s *Service) inviteRemote(ctx context.Context, roomID, sender, target, reason string, policy membershipPolicy) error {
	if s.remote.Client == nil {
		return refusal.New(refusal.Forbidden, "cannot invite %s: this server does not federate", target)
	}
	_, server, _ := matrixevents.SplitUserID(target)
	ev, state, err := s.buildRemoteInvite(ctx, roomID, sender, target, reason, policy)
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, remoteCallTimeout)
	defer cancel()
	raw, err := s.remote.Client.Invite(callCtx, server, roomID, ev.EventID(), ev.Version(), ev.JSON(), state)
	if err != nil {
		return refusal.New(refusal.Forbidden, "%s did not accept the invite: %v", server, err)
	}
	if _, err := matrixevents.ParseUntrusted(ev.Version(), raw); err != nil {
		return refusal.New(refusal.BadJSON, "%s answered the invite with an event room version %s does not allow: %v", server, ev.Version(), err)
	}
	// Only the invitee's server's signature is taken from the answer, so
	// the event that enters the room is the one built here; a signature
	// of anything else does not check.
	withTheirs, err := addSignatures(ev.JSON(), raw, server)
	if err != nil {
		return refusal.New(refusal.Forbidden, "%s's answer to the invite has no signature of it: %v", server, err)
	}
	signed, err := matrixevents.ParseUntrusted(ev.Version(), withTheirs)
	if err != nil || signed.EventID() != ev.EventID() {
		return refusal.New(refusal.Forbidden, "%s answered the invite with another event", server)
	}
	if err := matrixevents.VerifyEventSignatures(ctx, signed, s.remote.EventKeys); err != nil {
		return refusal.New(refusal.Forbidden, "%s's signature of the invite does not check: %v", server, err)
	}
	got, err := s.Receive(ctx, signed)
	if err != nil {
		return err
	}
	if got.Rejected || got.SoftFailed {
		return refusal.New(refusal.Forbidden, "the room's state changed and no longer allows this invite")
	}
	return nil
}

// addSignatures returns the event ours with server's signatures taken
// from the event answered, in canonical JSON.
func addSignatures(ours, answered json.RawMessage, server string) (json.RawMessage, error) {
	var theirs struct {
		Signatures map[string]json.RawMessage `json:"signatures"`
	}
	if err := json.Unmarshal(answered, &theirs); err != nil {
		return nil, err
	}
	sig, ok := theirs.Signatures[server]
	if !ok {
		return nil, fmt.Errorf("no signature by %s", server)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(ours, &fields); err != nil {
		return nil, err
	}
	sigs := map[string]json.RawMessage{}
	if err := json.Unmarshal(fields["signatures"], &sigs); err != nil {
		return nil, err
	}
	sigs[server] = sig
	var err error
	if fields["signatures"], err = json.Marshal(sigs); err != nil {
		return nil, err
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return matrixevents.CanonicalJSON(out)
}

// buildRemoteInvite builds and authorises the invite on the room's current
// state, under its lock, with the state to give the invitee's server.
func (s *Service) buildRemoteInvite(ctx context.Context, roomID, sender, target, reason string, policy membershipPolicy) (matrixevents.Event, []json.RawMessage, error) {
	e, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return matrixevents.Event{}, nil, err
	}
	defer e.mu.Unlock()
	snap := RoomSnapshot{Info: e.info, State: e.state}
	content := map[string]any{"membership": "invite"}
	if reason != "" {
		content["reason"] = reason
	}
	raw, _ := json.Marshal(content)
	if err := s.checkMembershipPolicyWith(ctx, snap, sender, target, raw, policy); err != nil {
		return matrixevents.Event{}, nil, err
	}
	key := target
	ev, err := s.add(newDraft(e), eventRequest{Sender: sender, Type: matrixevents.TypeMember, StateKey: &key, Content: raw})
	if err != nil {
		return matrixevents.Event{}, nil, err
	}
	return ev, roomStateFor(snap, sender), nil
}

// roomStateFor is the state shown to an invitee or knocker: the events
// of inviteStateTypes and member's own member event, as full events.
func roomStateFor(snap RoomSnapshot, member string) []json.RawMessage {
	out := []json.RawMessage{}
	for _, typ := range inviteStateTypes {
		if se, ok := snap.Get(typ, ""); ok {
			out = append(out, se.Event.JSON())
		}
	}
	if se, ok := snap.Get(matrixevents.TypeMember, member); ok {
		out = append(out, se.Event.JSON())
	}
	return out
}

// KnockRoomState is the room's state shown to a knocker of another
// server (send_knock's knock_room_state): the invite state's events, as
// full events, with the knock itself.
func (s *Service) KnockRoomState(ctx context.Context, roomID, knocker string) ([]json.RawMessage, error) {
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return nil, err
	}
	return roomStateFor(snap, knocker), nil
}
