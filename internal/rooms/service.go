package rooms

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/keylock"
	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// Positions hands out stream positions (storage.Stream).
type Positions interface {
	Reserve(ctx context.Context) (pos int64, done func(), err error)
}

// Accounts is what rooms need to know about users: their kind (guest
// rules key off it) and profile (member events carry it; profile changes
// go through the room service so they reach every joined room, G-50).
type Accounts interface {
	GetUser(ctx context.Context, userID string) (accounts.User, error)
	GetProfile(ctx context.Context, userID string) (accounts.Profile, error)
	SetDisplayName(ctx context.Context, userID, name string) error
	SetAvatarURL(ctx context.Context, userID, url string) error
	ErasedAmong(ctx context.Context, userIDs []string) (map[string]bool, error)
}

// Service is the room core. Writes to one room are serialised by that
// room's lock; different rooms proceed in parallel. Messages are built
// under the lock and stored together by group commits (groupcommit.go).
type Service struct {
	store      Store
	accounts   Accounts
	key        *matrixevents.SigningKey
	serverName string
	positions  Positions
	log        *slog.Logger
	now        func() time.Time

	mu    sync.Mutex
	rooms map[string]*roomEntry

	// listeners hear about every stored event, after it is durable.
	listenersMu sync.RWMutex
	listeners   []func(ev StoredEvent)
	indexers    []func(ev StoredEvent)
	// federated hear about events shown to clients with the other
	// servers they are for (remoteservers.go).
	federated []func(ev StoredEvent, servers []string)
	// remoteSpaces asks other servers about rooms of a space hierarchy
	// this server does not know (remotehierarchy.go).
	remoteSpaces RemoteSpaces

	// selfDestruct prunes self-destructing messages when enabled.
	selfDestruct *selfDestruct
	// pruned counts the expiry rounds that pruned events (PrunedGeneration).
	pruned atomic.Uint64

	// guestMaxRooms is guest_access.max_rooms (Options).
	guestMaxRooms int
	// serverNoticesUser is Options.ServerNoticesUser.
	serverNoticesUser string

	// remote is for memberships in other servers' rooms (remotemembers.go).
	remote remoteDeps
	// dag fetches events from other servers (SetFederation).
	dag *remoteDAG
	// backfillQuiet holds, by room, when /messages may next backfill after
	// a backfill that brought nothing (backfill.go).
	backfillQuiet sync.Map
	// joins and eventKeys reach other servers for joins and leaves of
	// their rooms (SetFederation); remoteJoins serialises this server's
	// joins of one remote room, without holding the room's lock.
	joins       JoinFederation
	eventKeys   matrixevents.EventKeyLookup
	remoteJoins keylock.Striped
	// aliasQuery asks application services about unknown local aliases
	// (SetAliasQuery); nil: none.
	aliasQuery func(ctx context.Context, alias string) bool

	// committer writes the messages of concurrent sends together
	// (groupcommit.go).
	committer groupCommitter
}

// roomEntry caches a room's current state. mu serialises writes to the
// room and guards the cache.
type roomEntry struct {
	mu     sync.Mutex
	loaded bool
	info   RoomInfo
	state  map[matrixevents.StateTuple]StoredEvent
	// summary caches MemberCounts and pushRoom what push evaluation needs
	// (pushroom.go); a state change clears both.
	summary  *MemberSummary
	pushRoom *PushRoom
	// serverJoins counts the joined members of each server while summary
	// is cached, so a change of members updates its JoinedServers.
	serverJoins map[string]int
	// memberNames are the display names pushRoom was built with, by the
	// member event they came from: a rebuild decodes only new events.
	memberNames map[string]memberName
	// held are received events not yet written (receivebatch.go); the
	// cache counts them. Locking the room writes them first, unless the
	// locker is their batch.
	held *heldWrites
	// pipe queues messages built on the room's tip, not yet stored
	// (groupcommit.go); info and state are the stored room's.
	pipe *roomPipeline
	// lane commits the room's messages when rooms do not share one.
	lane commitLane
}

// Options are the room service's settings.
type Options struct {
	// GuestMaxRooms is guest_access.max_rooms (0: no limit): the most
	// rooms one guest may be joined to. Every write that joins a guest to
	// a room it is not joined to carries the cap into its transaction
	// (guestRoomCap), so concurrent joins cannot pass it together,
	// whichever endpoint they come through.
	GuestMaxRooms int
	// ServerNoticesUser is the system user that sends server notices
	// (empty when they are off): its invites cannot be rejected.
	ServerNoticesUser string
	// CommitPerRoom gives each room its own group commit of messages
	// (PostgreSQL, which takes many transactions at once) instead of one
	// shared by every room (SQLite's one writer), groupcommit.go.
	CommitPerRoom bool
}

// NewService builds the room service.
func NewService(store Store, accts Accounts, key *matrixevents.SigningKey, serverName string, positions Positions, opts Options, log *slog.Logger) *Service {
	return &Service{
		store: store, accounts: accts, key: key, serverName: serverName, positions: positions, log: log,
		now: time.Now, rooms: map[string]*roomEntry{}, guestMaxRooms: opts.GuestMaxRooms,
		serverNoticesUser: opts.ServerNoticesUser, committer: newGroupCommitter(opts.CommitPerRoom),
	}
}

// ServerName is the domain of this server.
func (s *Service) ServerName() string { return s.serverName }

// IndexEvents registers f to hear of each stored event before its stream
// position becomes visible (OnEvent listeners hear after). f runs under
// the room's lock and must only record, quickly.
func (s *Service) IndexEvents(f func(ev StoredEvent)) {
	s.listenersMu.Lock()
	s.indexers = append(s.indexers, f)
	s.listenersMu.Unlock()
}

// Store exposes the store to sibling packages (sync).
func (s *Service) Store() Store { return s.store }

// OnEvent registers f to hear of each event once it is stored. f runs
// while the room is locked, and for sent messages on the committer that
// stores them with other rooms' (groupcommit.go), so it must not call
// back into any room.
func (s *Service) OnEvent(f func(ev StoredEvent)) {
	s.listenersMu.Lock()
	s.listeners = append(s.listeners, f)
	s.listenersMu.Unlock()
}

func (s *Service) entry(roomID string) *roomEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.rooms[roomID]
	if e == nil {
		e = &roomEntry{}
		s.rooms[roomID] = e
	}
	return e
}

// hasEntry reports whether roomID has a lock entry, without making one.
func (s *Service) hasEntry(roomID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[roomID] != nil
}

// lockRoom locks a room to write to it and loads its state; the caller
// must unlock. Messages queued for a group commit are stored first, so the
// write builds on stored state.
func (s *Service) lockRoom(ctx context.Context, roomID string) (*roomEntry, error) {
	return s.lockRoomFor(ctx, roomID, nil)
}

// lockRoomFor is lockRoom for a batch of received events, whose held
// events stay held; another batch's are written first. The write may
// fail: the room is then reloaded, without them.
func (s *Service) lockRoomFor(ctx context.Context, roomID string, b *ReceiveBatch) (*roomEntry, error) {
	return s.lockRoomAs(ctx, roomID, b, true)
}

// lockRoomRead locks a room to read its stored state, without waiting for
// queued messages (which change no state) to be stored.
func (s *Service) lockRoomRead(ctx context.Context, roomID string) (*roomEntry, error) {
	return s.lockRoomAs(ctx, roomID, nil, false)
}

func (s *Service) lockRoomAs(ctx context.Context, roomID string, b *ReceiveBatch, write bool) (*roomEntry, error) {
	e := s.entry(roomID)
	e.mu.Lock()
	if write {
		e.waitQuiet()
	}
	if e.held != nil && (b == nil || e.held.batch != b) {
		if err := s.flushLocked(ctx, e); err != nil {
			s.log.ErrorContext(ctx, "writing received events", "room_id", roomID, "err", err)
		}
	}
	if e.loaded {
		return e, nil
	}
	// Queued messages were built on the state about to be replaced.
	e.waitQuiet()
	if err := s.loadLocked(ctx, e, roomID); err != nil {
		e.mu.Unlock()
		return nil, err
	}
	return e, nil
}

// loadLocked reads a locked room's row and current state into its entry.
func (s *Service) loadLocked(ctx context.Context, e *roomEntry, roomID string) error {
	info, err := s.store.GetRoom(ctx, roomID)
	if errors.Is(err, ErrNotFound) {
		return refusal.New(refusal.NotFound, "there is no room %s on this server", roomID)
	}
	if err != nil {
		return err
	}
	state, err := s.store.CurrentState(ctx, roomID)
	if err != nil {
		return err
	}
	e.info = info
	e.state = map[matrixevents.StateTuple]StoredEvent{}
	for _, se := range state {
		e.state[tupleOf(se.Event)] = se
	}
	e.loaded, e.summary, e.pushRoom = true, nil, nil
	return nil
}

func tupleOf(ev matrixevents.Event) matrixevents.StateTuple {
	sk := ev.StateKey()
	if sk == nil {
		return matrixevents.StateTuple{Type: ev.Type()}
	}
	return matrixevents.StateTuple{Type: ev.Type(), StateKey: *sk}
}

// RoomSnapshot is a room's current state at one moment. Its State map is
// shared and read-only: a change builds a new map (newDraft) and swaps it
// in, so a snapshot never changes under its reader.
type RoomSnapshot struct {
	Info  RoomInfo
	State map[matrixevents.StateTuple]StoredEvent
}

// Current returns a room's current state without copying it.
func (s *Service) Current(ctx context.Context, roomID string) (RoomSnapshot, error) {
	e, err := s.lockRoomRead(ctx, roomID)
	if err != nil {
		return RoomSnapshot{}, err
	}
	defer e.mu.Unlock()
	return RoomSnapshot{Info: e.info, State: e.state}, nil
}

// Get returns one state event's content from a snapshot.
func (r RoomSnapshot) Get(typ, stateKey string) (StoredEvent, bool) {
	se, ok := r.State[matrixevents.StateTuple{Type: typ, StateKey: stateKey}]
	return se, ok
}

// HistoryVisibility is the room's current history visibility.
func (r RoomSnapshot) HistoryVisibility() string { return historyVisibility(r.State) }

// Membership of a user in the snapshot ("" when none).
func (r RoomSnapshot) Membership(userID string) string {
	if se, ok := r.Get("m.room.member", userID); ok {
		return se.Event.Membership()
	}
	return ""
}

// RequireJoined refuses (refusal.Forbidden) a user not joined to the room,
// and a room that does not exist, without saying which.
func (s *Service) RequireJoined(ctx context.Context, userID, roomID string) error {
	snap, err := s.Current(ctx, roomID)
	var re *refusal.Error
	if (errors.As(err, &re) && re.Kind == refusal.NotFound) || (err == nil && snap.Membership(userID) != "join") {
		return refusal.New(refusal.Forbidden, "you are not joined to room %s", roomID)
	}
	return err
}

func (s *Service) isGuest(ctx context.Context, userID string) (bool, error) {
	u, err := s.accounts.GetUser(ctx, userID)
	if errors.Is(err, accounts.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return u.Kind == accounts.KindGuest, nil
}
