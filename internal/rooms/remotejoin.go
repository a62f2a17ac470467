package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"foyer/internal/federationclient"
	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// JoinFederation is how the room service asks other servers to let its
// users join and leave their rooms (federationclient.Client).
type JoinFederation interface {
	MakeJoin(ctx context.Context, destination, roomID, userID string, versions []string) (federationclient.MakeMembershipAnswer, error)
	SendJoin(ctx context.Context, destination, roomID, eventID string, event json.RawMessage) (federationclient.SendJoinAnswer, error)
	MakeLeave(ctx context.Context, destination, roomID, userID string) (federationclient.MakeMembershipAnswer, error)
	SendLeave(ctx context.Context, destination, roomID, eventID string, event json.RawMessage) error
	QueryDirectory(ctx context.Context, destination, alias string) (federationclient.DirectoryAnswer, error)
}

// JoinVia joins userID to roomID with the client's content (see
// JoinWithContent). When no user of this server is joined to the room
// (or the room is unknown here) and some other server may be, the join is
// made through one of them (joinServers' list, in order): make_join,
// the join signed here, send_join, and the answer checked and stored.
// Otherwise the join is local.
func (s *Service) JoinVia(ctx context.Context, roomID, userID string, content map[string]json.RawMessage, hints JoinHints) error {
	extra := make(map[string]any, len(content))
	for k, v := range content {
		extra[k] = v
	}
	for _, k := range serverSetMemberKeys {
		delete(extra, k)
	}
	if s.joins != nil {
		invite, err := s.PendingInviteServers(ctx, roomID, userID)
		if err != nil {
			return err
		}
		hints.Invite = invite
		servers, err := s.remoteJoinServers(ctx, roomID, hints)
		if err != nil {
			return err
		}
		if len(servers) > 0 {
			return s.joinRemote(ctx, roomID, userID, extra, servers)
		}
	}
	_, err := s.setMembership(ctx, roomID, userID, userID, "join", extra)
	var re *refusal.Error
	if s.joins != nil && errors.As(err, &re) && re.Kind == refusal.UnableToGrantJoin {
		// A restricted room no user here may invite to (restrictedjoinvia.go).
		return s.joinRestrictedThroughInviters(ctx, roomID, userID, extra, err)
	}
	return err
}

// remoteJoinServers is the servers to join roomID through, or none when
// the join is local: a user of this server is joined, or no other server
// is known. A room unknown here with no server to ask is not found.
func (s *Service) remoteJoinServers(ctx context.Context, roomID string, hints JoinHints) ([]string, error) {
	snap, err := s.Current(ctx, roomID)
	var re *refusal.Error
	switch {
	case errors.As(err, &re) && re.Kind == refusal.NotFound:
		servers := s.joinServers(roomID, hints, nil)
		if len(servers) == 0 {
			return nil, refusal.New(refusal.NotFound, "there is no room %s on this server, and no server to ask to join it", roomID)
		}
		return servers, nil
	case err != nil:
		return nil, err
	}
	if s.participating(snap.State) {
		return nil, nil
	}
	return s.joinServers(roomID, hints, snap.State), nil
}

// participating reports whether a user of this server is joined in state.
func (s *Service) participating(state map[matrixevents.StateTuple]StoredEvent) bool {
	suffix := ":" + s.serverName
	for t, se := range state {
		if t.Type == matrixevents.TypeMember && strings.HasSuffix(t.StateKey, suffix) && se.Event.Membership() == "join" {
			return true
		}
	}
	return false
}

// RemoteJoinTimeout bounds a join through other servers, however many
// are asked (each request has the federation client's own timeout).
const RemoteJoinTimeout = 2 * time.Minute

// joinFailover are the errors of a resident server after which the next
// one is asked, as the spec and Synapse do: it is not in the room, or
// cannot vouch for a restricted join. Any other 4xx is the room's answer.
var joinFailover = []string{"M_NOT_FOUND", "M_UNABLE_TO_AUTHORISE_JOIN", "M_UNABLE_TO_GRANT_JOIN"}

// joinRemote joins userID to roomID through the first of servers that
// lets it. One join of a room at a time: a second local user waits, and
// joins locally once the first is in.
func (s *Service) joinRemote(ctx context.Context, roomID, userID string, extra map[string]any, servers []string) error {
	ctx, cancel := context.WithTimeout(ctx, RemoteJoinTimeout)
	defer cancel()
	unlock := s.remoteJoins.Lock(roomID)
	defer unlock()
	if again, err := s.remoteJoinServers(ctx, roomID, JoinHints{Via: servers}); err != nil {
		return err
	} else if len(again) == 0 {
		_, err := s.setMembership(ctx, roomID, userID, userID, "join", extra)
		return err
	}
	guest, err := s.isGuest(ctx, userID)
	if err != nil {
		return err
	}
	content := s.memberContent(ctx, userID, "join")
	for k, v := range extra {
		content[k] = v
	}
	content["membership"] = "join"
	var tried []string
	var lastRestricted error
	for _, server := range servers {
		joined, err := s.joinThrough(ctx, server, roomID, userID, content)
		if err != nil {
			var re *refusal.Error
			if errors.As(err, &re) {
				return err
			}
			if errors.Is(err, federationclient.ErrNotPermitted) {
				continue // Federation with it is off: not asked.
			}
			s.log.InfoContext(ctx, "joining a room through another server failed", "room_id", roomID, "server", server, "err", err)
			tried = append(tried, server)
			if r := restrictedJoinRefusal(err); r != nil {
				lastRestricted = r
			}
			continue
		}
		if guest && !guestCanJoin(RoomSnapshot{State: storedState(joined.state)}) {
			s.leaveThrough(ctx, server, roomID, userID)
			return refusal.New(refusal.GuestForbidden, "this room does not allow guests to join; register an account to join it")
		}
		// The room's server has the join now: it is stored even if the
		// client has gone meanwhile.
		if err := s.storeRemoteJoin(context.WithoutCancel(ctx), roomID, userID, guest, joined); err != nil {
			var re *refusal.Error
			if errors.As(err, &re) {
				// Refused here after the room let the user in (the guest
				// room cap): the join is undone there.
				s.leaveThrough(ctx, server, roomID, userID)
			}
			return err
		}
		s.followUpgrade(context.WithoutCancel(ctx), roomID)
		return nil
	}
	if len(tried) == 0 {
		return refusal.New(refusal.NotFound, "room %s is not on this server, and this server may ask none of its servers", roomID)
	}
	if lastRestricted != nil {
		return lastRestricted
	}
	return &refusal.Error{Kind: refusal.Unreachable, Msg: fmt.Sprintf("could not join room %s through any of its servers (%s)", roomID, strings.Join(tried, ", "))}
}

// joinThrough makes and sends the join through one server. A refusal is
// the room's answer, for the client; any other error means the next
// server may be asked.
func (s *Service) joinThrough(ctx context.Context, server, roomID, userID string, content map[string]any) (joinedRemote, error) {
	made, err := s.joins.MakeJoin(ctx, server, roomID, userID, matrixevents.SupportedVersions())
	if err != nil {
		return joinedRemote{}, relayRemote(err)
	}
	version := made.RoomVersion
	if version == "" {
		version = "1"
	}
	if !matrixevents.IsSupported(version) {
		return joinedRemote{}, refusal.New(refusal.UnsupportedRoomVersion, "room %s is of version %s, which this server does not support", roomID, version)
	}
	ev, err := s.signTemplate(version, made.Event, roomID, userID, "join", content)
	if err != nil {
		return joinedRemote{}, err
	}
	answer, err := s.joins.SendJoin(ctx, server, roomID, ev.EventID(), ev.JSON())
	if err != nil {
		return joinedRemote{}, relayRemote(err)
	}
	return s.checkJoinAnswer(ctx, version, roomID, ev, answer)
}

// signTemplate signs a make_join or make_leave template as the user's
// membership with content, keeping the template's own content keys that
// content does not set (a restricted join's authorising server).
func (s *Service) signTemplate(version string, template json.RawMessage, roomID, userID, membership string, content map[string]any) (matrixevents.Event, error) {
	var t struct {
		Content map[string]json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(template, &t); err != nil {
		return matrixevents.Event{}, fmt.Errorf("the %s template is not an event: %w", membership, err)
	}
	merged := make(map[string]any, len(content)+len(t.Content))
	for k, v := range t.Content {
		merged[k] = v
	}
	for k, v := range content {
		merged[k] = v
	}
	merged["membership"] = membership
	ev, err := matrixevents.BuildFromTemplate(version, template, roomID, userID, membership, merged, s.serverName, s.key, s.now())
	if err != nil {
		return matrixevents.Event{}, err
	}
	if len(ev.JSON()) > 65536 {
		return matrixevents.Event{}, refusal.New(refusal.TooLarge, "the join event would be larger than the 65536 bytes an event may have")
	}
	return ev, nil
}

// relayRemote turns a resident server's answer that is the room's own
// refusal (a 4xx other than joinFailover's) into a refusal for the
// client, with the same status and code; other errors stay as they are.
// A 401 (the servers' request signing) and a 429 (that server's rate) are
// about the server, not the room: the next one is asked.
func relayRemote(err error) error {
	re, ok := federationclient.RemoteError(err)
	if !ok || re.Status < 400 || re.Status > 499 || re.Status == 401 || re.Status == 429 ||
		slices.Contains(joinFailover, re.Code) || !strings.HasPrefix(re.Code, "M_") {
		return err
	}
	msg := re.Message
	if msg == "" {
		msg = fmt.Sprintf("%s refused", re.Destination)
	}
	return &refusal.Error{Kind: refusal.Remote, Msg: msg, Status: re.Status, Code: re.Code, RoomVersion: re.RoomVersion}
}

// leaveThrough undoes a join this server then refused to keep: the
// user's leave, made and sent through the same server. A failure is
// logged; the room's servers see the user as joined until it leaves.
func (s *Service) leaveThrough(ctx context.Context, server, roomID, userID string) {
	ctx = context.WithoutCancel(ctx)
	err := func() error {
		made, err := s.joins.MakeLeave(ctx, server, roomID, userID)
		if err != nil {
			return err
		}
		version := made.RoomVersion
		if version == "" {
			version = "1"
		}
		ev, err := s.signTemplate(version, made.Event, roomID, userID, "leave", map[string]any{})
		if err != nil {
			return err
		}
		return s.joins.SendLeave(ctx, server, roomID, ev.EventID(), ev.JSON())
	}()
	if err != nil {
		s.log.WarnContext(ctx, "could not undo a refused join in a remote room", "room_id", roomID, "server", server, "user_id", userID, "err", err)
	}
}

// storeRemoteJoin stores a checked join answer in one write: the room
// (when new), the state and auth chain this server did not have as
// outliers, the state before the join as a state group, and the join as
// an event clients see, the room's one forward extremity, with that state
// and the join as the room's current state.
func (s *Service) storeRemoteJoin(ctx context.Context, roomID, userID string, guest bool, j joinedRemote) error {
	e := s.entry(roomID)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.waitQuiet()
	if err := s.flushLocked(ctx, e); err != nil {
		return err
	}
	info, err := s.store.GetRoom(ctx, roomID)
	known := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if known && info.Version != j.version {
		return fmt.Errorf("room %s is stored as version %s, its servers say %s", roomID, info.Version, j.version)
	}
	ids := slices.Sorted(maps.Keys(j.events))
	have, err := s.store.EventsAnyStatus(ctx, append(slices.Clone(ids), j.join.EventID()))
	if err != nil {
		return err
	}
	if _, ok := have[j.join.EventID()]; ok {
		return nil // Stored already: a repeat of the same join.
	}
	var dones []func()
	defer func() {
		for _, done := range dones {
			done()
		}
	}()
	reserve := func() (int64, error) {
		pos, done, err := s.positions.Reserve(ctx)
		if err == nil {
			dones = append(dones, done)
		}
		return pos, err
	}
	a := Append{RoomID: roomID}
	stored := map[string]StoredEvent{}
	// Outliers in depth order, so their positions follow the room's order.
	slices.SortStableFunc(ids, func(x, y string) int { return int(j.events[x].Depth() - j.events[y].Depth()) })
	for _, id := range ids {
		if se, ok := have[id]; ok {
			stored[id] = se
			continue
		}
		pos, err := reserve()
		if err != nil {
			return err
		}
		pe := PersistEvent{Event: j.events[id], StreamPos: -pos, Outlier: true, Rejected: j.rejected[id]}
		a.Events = append(a.Events, pe)
		stored[id] = StoredEvent{Event: pe.Event, StreamPos: pe.StreamPos, Outlier: true, Rejected: pe.Rejected}
	}
	before := make(map[matrixevents.StateTuple]StoredEvent, len(j.state))
	delta := make(map[matrixevents.StateTuple]string, len(j.state))
	for k, ev := range j.state {
		before[k] = stored[ev.EventID()]
		delta[k] = ev.EventID()
	}
	groupBefore, err := reserve()
	if err != nil {
		return err
	}
	a.StateGroups = []StateGroupWrite{{ID: groupBefore, Delta: delta}}
	pos, err := reserve()
	if err != nil {
		return err
	}
	pe := PersistEvent{Event: j.join, StreamPos: pos, StateBefore: groupBefore, HistoryVisibility: historyVisibility(before)}
	memberKey := tupleOf(j.join)
	if old, ok := before[memberKey]; ok {
		pe.ReplacesState = old.Event.EventID()
	}
	a.Events = append(a.Events, pe)
	joinStored := StoredEvent{Event: j.join, StreamPos: pos, HistoryVisibility: pe.HistoryVisibility, ReplacesState: pe.ReplacesState, StateGroup: pos}
	current := make([]StoredEvent, 0, len(before)+1)
	for k, se := range before {
		if k != memberKey {
			current = append(current, se)
		}
	}
	a.CurrentState = append(current, joinStored)
	a.Extremities = []Extremity{{EventID: j.join.EventID(), Depth: j.join.Depth()}}
	a.StateGroup = pos
	if !known {
		create := j.state[matrixevents.StateTuple{Type: matrixevents.TypeCreate}]
		a.NewRoom = &RoomInfo{RoomID: roomID, Version: j.version, Creator: create.Sender(), CreatedTS: create.OriginServerTS(),
			LatestEventID: j.join.EventID(), Depth: j.join.Depth()}
	}
	if guest && s.guestMaxRooms > 0 {
		a.RoomCap = &RoomCap{UserID: userID, Max: s.guestMaxRooms}
	}
	if err := s.store.Append(ctx, a); err != nil {
		if errors.Is(err, ErrRoomCapReached) {
			return roomCapRefusal(s.guestMaxRooms)
		}
		return err
	}
	// Reloaded from the store on the next lock.
	e.loaded, e.summary, e.pushRoom = false, nil, nil
	s.listenersMu.RLock()
	for _, f := range s.indexers {
		f(joinStored)
	}
	s.listenersMu.RUnlock()
	for _, done := range dones {
		done()
	}
	dones = nil
	// The room's servers have the join from send_join: it is not queued
	// for them again.
	s.listenersMu.RLock()
	for _, f := range s.listeners {
		f(joinStored)
	}
	s.listenersMu.RUnlock()
	return nil
}
