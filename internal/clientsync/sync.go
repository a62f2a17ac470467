package clientsync

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sort"
	"time"

	"foyer/internal/clientdata"
	"foyer/internal/presence"
	"foyer/internal/push"
	"foyer/internal/rooms"
	"foyer/internal/typing"
)

// Stream is the ordering of stored writes (storage.Stream).
type Stream interface {
	Current() int64
	// CatchUp waits (at most maxWait) until every position handed out
	// before it is visible.
	CatchUp(ctx context.Context, maxWait time.Duration) bool
	OnAdvance(func(int64))
	Reserve(ctx context.Context) (pos int64, done func(), err error)
}

// Extension adds top-level sync data owned by another area (presence,
// to-device messages, device lists, key counts).
type Extension interface {
	// Fill adds to resp what changed for the caller in (since, to]; since
	// is 0 on an initial sync.
	Fill(ctx context.Context, req *Request, since, to int64, resp *Response) error
}

// Service computes sync responses and parks long-polls on the notifier.
type Service struct {
	rooms      *rooms.Service
	store      rooms.Store
	clientData *clientdata.Service
	typing     *typing.Service
	stream     Stream
	wakeups    *Wakeups
	notifier   *Notifier // wakeups' notifier
	log        *slog.Logger

	// extensions are fixed when the service is built.
	extensions []Extension

	// changes remembers where recent writes happened, so most syncs can
	// skip queries that would find nothing.
	changes *changeIndex

	push        *push.Service
	peeks       PeekStore
	noPeeks     noPeeks
	ignored     ignoredUsers
	unreadCache unreadCounts
	lazy        lazyMembers
	presence    *presence.Service
	// initialPresence caps the presence of an initial sync (0: none).
	initialPresence int

	// shared are the reads the syncs at one stream position share.
	shared wakeReads
	// fullSlots bound the initial and full-state syncs computed at once
	// (fullsyncs.go).
	fullSlots chan struct{}
}

// SetInitialPresenceLimit is sync_limits.initial_presence.
func (s *Service) SetInitialPresenceLimit(n int) { s.initialPresence = n }

// NewService builds the sync service and subscribes it to room events,
// typing, client data, push rule and presence changes. Push rules count
// unread notifications and deliver m.push_rules account data; peeks keep
// the devices' peeks into world_readable rooms. extensions add the
// top-level data of other areas (e2ee), after presence.
func NewService(rs *rooms.Service, cd *clientdata.Service, ty *typing.Service, pu *push.Service, pr *presence.Service, peeks PeekStore,
	stream Stream, wakeups *Wakeups, extensions []Extension, log *slog.Logger) *Service {
	s := &Service{rooms: rs, store: rs.Store(), clientData: cd, typing: ty, stream: stream, wakeups: wakeups, notifier: wakeups.Notifier(), log: log,
		changes: newChangeIndex(stream.Current()), fullSlots: newFullSyncSlots()}
	s.extensions = append([]Extension{PresenceExtension{Sync: s, Presence: pr}}, extensions...)
	rs.IndexEvents(s.changes.recordEvent)
	rs.OnEvent(func(se rooms.StoredEvent) {
		var users []string
		if se.Event.Type() == "m.room.member" && se.Event.StateKey() != nil {
			// The target learns of invites and joins to rooms it is not
			// yet listening to.
			users = []string{*se.Event.StateKey()}
		}
		s.WakeAt(se.StreamPos, users, []string{se.Event.RoomID()})
	})
	if ty != nil {
		ty.OnChange(func(roomID string) { s.wakeups.WakeNow(nil, []string{roomID}) })
	}
	if cd != nil {
		cd.OnWrite(func(w clientdata.Write) {
			s.changes.record(w)
			if w.RoomID == "" {
				s.ignored.forget(w.UserID)
			}
			if w.RoomWide {
				s.WakeAt(w.Pos, nil, []string{w.RoomID})
			} else {
				s.WakeAt(w.Pos, []string{w.UserID}, nil)
			}
		})
	}
	rs.OnRemoteMembership(func(userID string, pos int64) { s.WakeAt(pos, []string{userID}, nil) })
	s.push = pu
	pu.OnChange(func(userID string, pos int64) { s.WakeAt(pos, []string{userID}, nil) })
	s.watchPresence(pr)
	s.usePeeks(peeks)
	return s
}

// OnWake registers f to hear every wake of long-polls (Wakeups.OnWake).
func (s *Service) OnWake(f func(seq int64, users, rooms []string)) { s.wakeups.OnWake(f) }

// WakeSequence is the number of the latest wake (Wakeups.Sequence).
func (s *Service) WakeSequence() int64 { return s.wakeups.Sequence() }

// Notifier exposes the notifier, for metrics and tests.
func (s *Service) Notifier() *Notifier { return s.notifier }

// WakeAt wakes the listeners of users and rooms once every write up to
// pos is visible.
func (s *Service) WakeAt(pos int64, users, rooms []string) { s.wakeups.WakeAt(pos, users, rooms) }

// Request is one /sync call.
type Request struct {
	UserID    string
	DeviceID  string
	Since     *Token
	Timeout   time.Duration
	FullState bool
	Filter    Filter
	// UseStateAfter (MSC4222, spec v1.16): rooms carry the state at the
	// end of their timeline in state_after, in place of state; under the
	// unstable name org.matrix.msc4222.state_after when
	// StateAfterUnstable, the name the client asked with.
	UseStateAfter, StateAfterUnstable bool
	// Stopping ends the long-poll early when the server shuts down.
	Stopping context.Context

	// ignored are the users the caller ignores, read once per response.
	ignored map[string]bool
	// membershipsUnchanged: see MembershipsUnchanged.
	membershipsUnchanged bool
}

// MembershipsUnchanged is true when, as far as the sync being computed
// knows, no membership changed after its since token in any room of the
// caller, the caller's own included; false when it may have.
// Extensions read it to skip what only a membership change brings.
func (r *Request) MembershipsUnchanged() bool { return r.membershipsUnchanged }

// catchUpWait bounds how long a sync waits for writes in flight when it
// starts; they normally finish within milliseconds.
const catchUpWait = 2 * time.Second

// Sync answers a /sync request, waiting up to req.Timeout for something
// new on an incremental sync.
func (s *Service) Sync(ctx context.Context, req *Request) (*Response, error) {
	// Read your own writes: a write acknowledged before this request (a
	// join, a message) took its position before it, so once those
	// positions are visible the answer holds it, even while writers with
	// earlier positions were still committing when it was acknowledged.
	s.stream.CatchUp(ctx, catchUpWait)
	if req.Since == nil || req.FullState {
		return s.computeFull(ctx, req)
	}
	if req.Timeout <= 0 {
		return s.compute(ctx, req, nil)
	}
	deadline := time.NewTimer(req.Timeout)
	defer deadline.Stop()
	for {
		// Listen before computing, so a change made meanwhile wakes us.
		rs, err := s.roomsOf(ctx, req)
		if err != nil {
			return nil, err
		}
		var roomIDs []string
		for _, m := range rs.memberships {
			roomIDs = append(roomIDs, m.RoomID)
		}
		for _, p := range rs.peeks {
			roomIDs = append(roomIDs, p.RoomID)
		}
		w := s.notifier.Listen(req.UserID, roomIDs)
		resp, err := s.compute(ctx, req, rs)
		if err != nil || !resp.empty() {
			s.notifier.Stop(w)
			return resp, err
		}
		// Woken: something changed, so go round and compute again.
		if woken, err := s.waitForChange(ctx, req.Stopping, w, deadline.C); err != nil {
			return nil, err
		} else if !woken {
			return resp, nil
		}
	}
}

// waitForChange parks a long-poll until its waiter fires (true), the
// deadline passes or the server stops (false), or the request ends
// (ctx's error). The waiter is stopped in every case.
func (s *Service) waitForChange(ctx, stopping context.Context, w *Waiter, deadline <-chan time.Time) (bool, error) {
	defer s.notifier.Stop(w)
	var stop <-chan struct{}
	if stopping != nil {
		stop = stopping.Done()
	}
	select {
	case <-w.C:
		return true, nil
	case <-deadline:
		return false, nil
	case <-stop:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// membershipAt finds the user's membership in a room as of pos when the
// current one is newer than pos.
func (s *Service) membershipAt(ctx context.Context, m rooms.RoomMembership, userID string, pos int64) (rooms.RoomMembership, error) {
	if m.StreamPos <= pos {
		return m, nil
	}
	hist, err := s.store.MembershipHistory(ctx, m.RoomID, userID)
	if err != nil {
		return m, err
	}
	out := rooms.RoomMembership{RoomID: m.RoomID}
	for _, c := range hist {
		if c.StreamPos > pos {
			break
		}
		out.Membership, out.StreamPos = c.Membership, c.StreamPos
	}
	return out, nil
}

// userRooms are the rooms a sync covers: the user's memberships and the
// device's live peeks.
type userRooms struct {
	memberships []rooms.RoomMembership
	peeks       []Peek
	// remote are the memberships in other servers' rooms that are newer
	// than any here (remotemembers.go).
	remote []rooms.RemoteMembership
	// forgotten are the rooms the user left and forgot (forgotten.go).
	forgotten []rooms.RoomMembership
}

func (s *Service) roomsOf(ctx context.Context, req *Request) (*userRooms, error) {
	all, err := s.store.UserMemberships(ctx, req.UserID)
	if err != nil {
		return nil, err
	}
	memberships, forgotten := splitForgotten(all)
	remote, err := s.rooms.RemoteMemberships(ctx, req.UserID)
	if err != nil {
		return nil, err
	}
	memberships, remote = withRemote(memberships, remote)
	peeks, err := s.livePeeks(ctx, req, memberships)
	if err != nil {
		return nil, err
	}
	return &userRooms{memberships: memberships, peeks: peeks, remote: remote, forgotten: forgotten}, nil
}

// compute builds one response from since to the current position.
// rs may be passed in when the caller has just read it.
func (s *Service) compute(ctx context.Context, req *Request, rs *userRooms) (*Response, error) {
	// Each room's membership history is read once per response.
	ctx = rooms.WithHistoryCache(ctx)
	to := s.stream.Current()
	typingVersion := int64(0)
	if s.typing != nil {
		typingVersion = s.typing.Version()
	}
	var since int64
	initial := req.Since == nil
	if !initial {
		since = req.Since.Pos
		if since > to {
			// A token from the future (e.g. a restored backup): start over.
			since, initial = 0, true
		}
	}
	resp := newResponse()
	resp.NextBatch = Token{Pos: to, Typing: typingVersion}.String()

	var err error
	if rs == nil {
		if rs, err = s.roomsOf(ctx, req); err != nil {
			return nil, err
		}
	}
	memberships := rs.memberships
	if !initial {
		if left := leftSince(rs.forgotten, since); len(left) > 0 {
			memberships = append(slices.Clone(memberships), left...)
		}
	}
	if req.ignored, err = s.IgnoredBy(ctx, req.UserID); err != nil {
		return nil, err
	}
	var typingChanged map[string]bool
	if s.typing != nil && !initial {
		typingChanged = map[string]bool{}
		if req.Since.Typing > typingVersion {
			// The server restarted since the token: resend typing.
			for _, m := range memberships {
				typingChanged[m.RoomID] = true
			}
		} else {
			for _, r := range s.typing.ChangedSince(req.Since.Typing) {
				typingChanged[r] = true
			}
		}
	}
	var accountData clientdata.AccountDataChanges
	if s.clientData != nil && s.changes.accountDataMaybeSince(req.UserID, since) {
		if accountData, err = s.clientData.AccountDataSince(ctx, req.UserID, since, to); err != nil {
			return nil, err
		}
	}
	rf := req.Filter.room()
	var joined []string
	for _, cur := range memberships {
		m, err := s.membershipAt(ctx, cur, req.UserID, to)
		if err != nil {
			return nil, err
		}
		if m.Membership == "" || !rf.allowsRoom(m.RoomID) {
			continue
		}
		changed := initial || m.StreamPos > since
		switch m.Membership {
		case "join":
			joined = append(joined, m.RoomID)
			if !changed && !req.FullState && !typingChanged[m.RoomID] && len(accountData.Rooms[m.RoomID]) == 0 &&
				!s.changes.eventsMaybeSince(m.RoomID, since) {
				// Nothing of this room moved: no work, so a sync costs the
				// same however many quiet rooms the user is in.
				continue
			}
			jr, err := s.joinedRoom(ctx, req, m, since, to, initial, typingChanged, accountData.Rooms[m.RoomID])
			if err != nil {
				return nil, err
			}
			if jr != nil {
				resp.Rooms.Join[m.RoomID] = jr
			}
		case "invite":
			if changed {
				if ignored, err := s.invitedByIgnored(ctx, req, m.RoomID); err != nil {
					return nil, err
				} else if ignored {
					continue
				}
				ir := &InvitedRoom{}
				ir.InviteState.Events, err = s.strippedState(ctx, m.RoomID, req.UserID)
				if err != nil {
					return nil, err
				}
				resp.Rooms.Invite[m.RoomID] = ir
			}
		case "knock":
			if changed {
				kr := &KnockedRoom{}
				kr.KnockState.Events, err = s.strippedState(ctx, m.RoomID, req.UserID)
				if err != nil {
					return nil, err
				}
				resp.Rooms.Knock[m.RoomID] = kr
			}
		case "leave", "ban":
			if (initial && rf.IncludeLeave) || (!initial && m.StreamPos > since) {
				lr, err := s.leftRoom(ctx, req, m, since, initial)
				if err != nil {
					return nil, err
				}
				resp.Rooms.Leave[m.RoomID] = lr
			}
		}
	}
	s.addRemoteMemberships(ctx, req, resp, rs.remote, since, to, initial)
	for _, p := range rs.peeks {
		if !rf.allowsRoom(p.RoomID) {
			continue
		}
		pr, err := s.peekedRoom(ctx, req, p, since, to, initial)
		if err != nil {
			return nil, err
		}
		if pr != nil {
			if resp.Rooms.Peek == nil {
				resp.Rooms.Peek = map[string]*JoinedRoom{}
			}
			resp.Rooms.Peek[p.RoomID] = pr
		}
	}
	if s.clientData != nil && len(joined) > 0 && s.changes.receiptsMaybeSince(req.UserID, joined, since) {
		if err := s.addReceipts(ctx, req, resp, joined, since, to); err != nil {
			return nil, err
		}
	}
	for _, ev := range accountData.Global {
		if req.Filter.AccountData.Allows(ev.Type, "") {
			resp.AccountData.Events = append(resp.AccountData.Events, mustJSON(ev))
		}
	}
	if s.push != nil && req.Filter.AccountData.Allows("m.push_rules", "") {
		changed := initial
		if !initial {
			if changed, err = s.push.ChangedBetween(ctx, req.UserID, since, to); err != nil {
				return nil, err
			}
		}
		if changed {
			content, err := s.push.AccountData(ctx, req.UserID)
			if err != nil {
				return nil, err
			}
			resp.AccountData.Events = append(resp.AccountData.Events, mustJSON(map[string]any{"type": "m.push_rules", "content": content}))
		}
	}
	req.membershipsUnchanged = !initial && s.changes.membershipsUnchangedSince(req.UserID, roomIDsOf(rs), since)
	exts := s.extensions
	for _, e := range exts {
		if err := e.Fill(ctx, req, since, to, resp); err != nil {
			return nil, err
		}
	}
	if req.UseStateAfter {
		moveToStateAfter(resp, req.StateAfterUnstable)
	}
	return resp, nil
}

// roomIDsOf lists every room the user has a membership in, forgotten
// ones included.
func roomIDsOf(rs *userRooms) []string {
	ids := make([]string, 0, len(rs.memberships)+len(rs.forgotten))
	for _, m := range rs.memberships {
		ids = append(ids, m.RoomID)
	}
	for _, m := range rs.forgotten {
		ids = append(ids, m.RoomID)
	}
	return ids
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func (s *Service) addReceipts(ctx context.Context, req *Request, resp *Response, joined []string, since, to int64) error {
	ef := req.Filter.room().Ephemeral
	if !ef.event().Allows("m.receipt", "") {
		return nil
	}
	receipts, err := s.clientData.ReceiptsSince(ctx, joined, since, to, req.UserID)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(receipts))
	for id := range receipts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, roomID := range ids {
		if !ef.AllowsRoom(roomID) {
			continue
		}
		jr := resp.Rooms.Join[roomID]
		if jr == nil {
			jr = newJoinedRoom()
			resp.Rooms.Join[roomID] = jr
		}
		jr.Ephemeral.Events = append(jr.Ephemeral.Events, mustJSON(map[string]any{"type": "m.receipt", "content": receipts[roomID]}))
	}
	return nil
}

func newJoinedRoom() *JoinedRoom {
	return &JoinedRoom{
		State:       StateList{Events: []json.RawMessage{}},
		Timeline:    Timeline{Events: []json.RawMessage{}},
		Ephemeral:   EventList{Events: []json.RawMessage{}},
		AccountData: EventList{Events: []json.RawMessage{}},
	}
}
