package rooms

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"foyer/internal/federationclient"
	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// Restricted joins (join rules "restricted", v8+, and "knock_restricted",
// v10+): a user who is not invited may join when joined to one of the
// rooms the join rule's allow list names (m.room_membership). The join
// names, in join_authorised_via_users_server, a user of the server that
// checked this who may invite; the auth rules check that user, and that
// server signs the join.

// restrictedAllowList is the rooms a restricted join rule admits the
// members of, and whether the room's join rule is restricted at all (in
// a room version that has it).
func restrictedAllowList(snap RoomSnapshot) ([]string, bool) {
	se, ok := snap.Get(matrixevents.TypeJoinRules, "")
	if !ok {
		return nil, false
	}
	var c struct {
		JoinRule string `json:"join_rule"`
	}
	_ = json.Unmarshal(se.Event.Content(), &c)
	f, ok := matrixevents.Features(snap.Info.Version)
	if !ok {
		return nil, false
	}
	switch {
	case c.JoinRule == "restricted" && f.RestrictedJoins, c.JoinRule == "knock_restricted" && f.KnockRestricted:
		return allowedRoomIDs(snap), true
	}
	return nil, false
}

// needsRestrictedCheck reports whether a join of userID to the room must
// meet its restricted join rule's conditions: the room is restricted and
// the user is neither joined nor invited.
func needsRestrictedCheck(snap RoomSnapshot, userID string) bool {
	if _, ok := restrictedAllowList(snap); !ok {
		return false
	}
	m := snap.Membership(userID)
	return m != "join" && m != "invite"
}

// restrictedJoinAuthoriser is the join_authorised_via_users_server a join
// of userID to the room needs, or "" when it needs none (see
// needsRestrictedCheck). The user must meet the conditions
// (checkRestrictedConditions); with no local user who may invite, another
// server must authorise the join (UnableToGrantJoin).
func (s *Service) restrictedJoinAuthoriser(ctx context.Context, snap RoomSnapshot, userID string) (string, error) {
	if !needsRestrictedCheck(snap, userID) {
		return "", nil
	}
	if err := s.checkRestrictedConditions(ctx, snap, userID); err != nil {
		return "", err
	}
	via := s.localInviter(snap)
	if via == "" {
		return "", refusal.New(refusal.UnableToGrantJoin, "no user of %s may invite to room %s; ask another of its servers", s.serverName, snap.Info.RoomID)
	}
	return via, nil
}

// checkRestrictedConditions checks that userID, when needsRestrictedCheck,
// is joined to one of the rooms the join rule allows, as far as this
// server knows: a membership of a user of another server counts only in a
// room this server is in. A user in none is refused (Forbidden); a user of
// another server, when this server is not in every allowed room, may be
// in one it cannot see (UnableToAuthoriseJoin).
func (s *Service) checkRestrictedConditions(ctx context.Context, snap RoomSnapshot, userID string) error {
	if !needsRestrictedCheck(snap, userID) {
		return nil
	}
	allowed, _ := restrictedAllowList(snap)
	joined, err := s.store.RoomsWithMembership(ctx, userID, "join")
	if err != nil {
		return err
	}
	local := strings.HasSuffix(userID, ":"+s.serverName)
	unseen := false
	for _, roomID := range allowed {
		if local {
			if slices.Contains(joined, roomID) {
				return nil
			}
			continue
		}
		in, err := s.serverInRoom(ctx, roomID)
		if err != nil {
			return err
		}
		if !in {
			unseen = true
		} else if slices.Contains(joined, roomID) {
			return nil
		}
	}
	if unseen {
		return refusal.New(refusal.UnableToAuthoriseJoin, "%s cannot tell whether %s is in the rooms room %s admits the members of", s.serverName, userID, snap.Info.RoomID)
	}
	return refusal.New(refusal.Forbidden, "you are not allowed to join this room: you are not joined to any of the rooms it admits the members of")
}

// serverInRoom reports whether a user of this server is joined to roomID
// (read from the store: no room lock is taken, as the caller may hold
// another room's).
func (s *Service) serverInRoom(ctx context.Context, roomID string) (bool, error) {
	state, err := s.store.CurrentState(ctx, roomID)
	if err != nil {
		return false, err
	}
	suffix := ":" + s.serverName
	for _, se := range state {
		if se.Event.Type() == matrixevents.TypeMember && se.Event.Membership() == "join" {
			if k := se.Event.StateKey(); k != nil && strings.HasSuffix(*k, suffix) {
				return true, nil
			}
		}
	}
	return false, nil
}

// localInviter is the joined user of this server with the most power in
// the room, if that power lets them invite ("" otherwise); ties go to the
// first user ID, so the choice is stable.
func (s *Service) localInviter(snap RoomSnapshot) string {
	pl := parsePowerLevels(snap)
	suffix := ":" + s.serverName
	var best string
	var bestLevel int64
	for k, se := range snap.State {
		if k.Type != matrixevents.TypeMember || !strings.HasSuffix(k.StateKey, suffix) || se.Event.Membership() != "join" {
			continue
		}
		level := pl.userLevel(k.StateKey)
		if best == "" || level > bestLevel || (level == bestLevel && cmp.Less(k.StateKey, best)) {
			best, bestLevel = k.StateKey, level
		}
	}
	if best == "" || bestLevel < pl.Invite {
		return ""
	}
	return best
}

// AuthoriseRestrictedJoin is this server's part in a join another server
// sends (send_join) that names one of its users in
// join_authorised_via_users_server: the user must still meet the room's
// conditions, and the join is signed here, as the auth rules need; the
// signed event is returned. A join that names no one is returned as it
// is; one naming a user of another server is for that server to
// authorise (UnableToGrantJoin). ev must be freshly parsed: it is signed
// in place.
func (s *Service) AuthoriseRestrictedJoin(ctx context.Context, ev matrixevents.Event) (matrixevents.Event, error) {
	var c struct {
		Via *string `json:"join_authorised_via_users_server"`
	}
	_ = json.Unmarshal(ev.Content(), &c)
	if c.Via == nil || ev.StateKey() == nil {
		return ev, nil
	}
	if _, server, ok := matrixevents.SplitUserID(*c.Via); !ok || server != s.serverName {
		return matrixevents.Event{}, refusal.New(refusal.UnableToGrantJoin, "the join names %q to authorise it, who is not a user of %s", *c.Via, s.serverName)
	}
	snap, err := s.Current(ctx, ev.RoomID())
	if err != nil {
		return matrixevents.Event{}, err
	}
	if err := s.checkRestrictedConditions(ctx, snap, *ev.StateKey()); err != nil {
		return matrixevents.Event{}, err
	}
	return matrixevents.SignEvent(ev, s.serverName, s.key)
}

// joinAuthoriser is the join_authorised_via_users_server a join names
// ("" when none).
func joinAuthoriser(ev matrixevents.Event) string {
	var c struct {
		Via string `json:"join_authorised_via_users_server"`
	}
	_ = json.Unmarshal(ev.Content(), &c)
	return c.Via
}

// restrictedJoinRefusal is a resident server's answer that it cannot
// authorise or grant a restricted join, as the client's refusal when no
// other server lets the user in (nil for any other error).
func restrictedJoinRefusal(err error) error {
	re, ok := federationclient.RemoteError(err)
	if !ok || (re.Code != "M_UNABLE_TO_AUTHORISE_JOIN" && re.Code != "M_UNABLE_TO_GRANT_JOIN") {
		return nil
	}
	kind := refusal.UnableToAuthoriseJoin
	if re.Code == "M_UNABLE_TO_GRANT_JOIN" {
		kind = refusal.UnableToGrantJoin
	}
	return refusal.New(kind, "no server of the room could authorise the join: %s", re.Message)
}
