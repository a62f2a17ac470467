package guest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/config"
)

// In-memory doubles of the store, the accounts and the rooms, for the
// policy's unit tests; the real ones are tested through HTTP in
// tests/integration.

type fakeUser struct {
	kind        string
	deactivated bool
	// claimed: a rename upgrade has claimed this guest.
	claimed     bool
	lastSeen    int64
	devices     int
	displayName string
}

type fakeStore struct {
	mu      sync.Mutex
	links   map[string]Link
	users   map[string]*fakeUser
	pending []string
	deleted []string
	renames map[string]Rename
	renamed map[string][]string
}

func newFakeStore() *fakeStore {
	return &fakeStore{links: map[string]Link{}, users: map[string]*fakeUser{},
		renames: map[string]Rename{}, renamed: map[string][]string{}}
}

func (f *fakeStore) GetRename(_ context.Context, guestID string) (Rename, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.renames[guestID]
	return r, ok, nil
}

func (f *fakeStore) UnfinishedRenames(_ context.Context, limit int) ([]Rename, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Rename
	for _, r := range f.renames {
		if r.State == RenameMoving && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeStore) SetRenameState(_ context.Context, guestID string, state RenameState, _ int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.renames[guestID]
	r.State = state
	f.renames[guestID] = r
	return nil
}

func (f *fakeStore) AddRenamedRoom(_ context.Context, guestID, roomID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.renamed[guestID], roomID) {
		f.renamed[guestID] = append(f.renamed[guestID], roomID)
	}
	return nil
}

func (f *fakeStore) RenamedRooms(_ context.Context, guestID string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.renamed[guestID])
	slices.Sort(out)
	return out, nil
}

func (f *fakeStore) CreateLink(_ context.Context, l Link) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.links[l.Token] = l
	return nil
}

func (f *fakeStore) GetLink(_ context.Context, token string) (Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.links[token]
	if !ok {
		return Link{}, ErrLinkNotFound
	}
	return l, nil
}

func (f *fakeStore) ListLinks(_ context.Context, roomID string) ([]Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Link
	for _, l := range f.links {
		if l.RoomID == roomID && l.RevokedTS == nil {
			out = append(out, l)
		}
	}
	return out, nil
}

func (f *fakeStore) RevokeLink(_ context.Context, roomID, token string, now int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.links[token]
	if !ok || l.RoomID != roomID || l.RevokedTS != nil {
		return ErrLinkNotFound
	}
	l.RevokedTS = &now
	f.links[token] = l
	return nil
}

func (f *fakeStore) UseLink(_ context.Context, token string, now int64) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.links[token]
	if !ok || l.Status(now) != nil {
		return false, nil
	}
	l.Uses++
	f.links[token] = l
	return true, nil
}

func (f *fakeStore) ReturnLinkUse(_ context.Context, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.links[token]
	l.Uses--
	f.links[token] = l
	return nil
}

func (f *fakeStore) CountLiveGuests(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for _, u := range f.users {
		if u.kind == "guest" && !u.deactivated {
			n++
		}
	}
	return n, nil
}

func (f *fakeStore) ListGuests(context.Context, int, int) ([]Info, error) { return nil, nil }

func (f *fakeStore) ExpirableGuests(_ context.Context, before int64, limit int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, u := range f.users {
		if u.kind == "guest" && !u.deactivated && u.lastSeen < before {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeStore) ClaimGuest(_ context.Context, userID string, before, _ int64) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.users[userID]
	if u == nil || u.kind != "guest" || u.deactivated || (before > 0 && u.lastSeen >= before) {
		return false, nil
	}
	u.deactivated = true
	f.pending = append(f.pending, userID)
	return true, nil
}

func (f *fakeStore) PendingLeaves(_ context.Context, limit int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.pending)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeStore) DonePendingLeave(_ context.Context, userID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = slices.DeleteFunc(f.pending, func(s string) bool { return s == userID })
	return nil
}

func (f *fakeStore) DeleteFreshGuest(_ context.Context, userID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.users, userID)
	f.deleted = append(f.deleted, userID)
	return nil
}

// fakeAccounts registers guests into the fake store.
type fakeAccounts struct {
	store       *fakeStore
	next        int
	deactivated []string
	logins      int
}

func (a *fakeAccounts) RegisterGuest(context.Context, string) (accounts.Credentials, error) {
	a.store.mu.Lock()
	defer a.store.mu.Unlock()
	a.next++
	id := "@" + strconv.Itoa(a.next) + ":hs"
	a.store.users[id] = &fakeUser{kind: "guest", lastSeen: time.Now().UnixMilli(), devices: 1}
	return accounts.Credentials{UserID: id, DeviceID: "DEV", AccessToken: "tok"}, nil
}

func (a *fakeAccounts) Deactivate(_ context.Context, userID string) error {
	a.deactivated = append(a.deactivated, userID)
	if u := a.store.users[userID]; u != nil {
		u.deactivated = true
		u.devices = 0
	}
	return nil
}

func (a *fakeAccounts) Register(_ context.Context, req accounts.RegisterRequest) (accounts.Credentials, error) {
	a.store.mu.Lock()
	defer a.store.mu.Unlock()
	id := "@" + req.Username + ":hs"
	if a.store.users[id] != nil {
		return accounts.Credentials{}, accounts.ErrUserInUse
	}
	if req.RenameOf != "" {
		g := a.store.users[req.RenameOf]
		if g == nil || g.kind != "guest" || g.deactivated || g.claimed {
			return accounts.Credentials{}, accounts.ErrNotGuest
		}
		g.claimed = true
		a.store.renames[req.RenameOf] = Rename{GuestUserID: req.RenameOf, NewUserID: id, NewDeviceID: "NEWDEV", State: RenameMoving}
	}
	kind := "named_guest"
	if req.Password != "" {
		kind = "user"
	}
	name := req.DisplayName
	if name == "" {
		name = req.Username
	}
	a.store.users[id] = &fakeUser{kind: kind, lastSeen: time.Now().UnixMilli(), devices: 1, displayName: name}
	return accounts.Credentials{UserID: id, DeviceID: "NEWDEV", AccessToken: "newtok"}, nil
}

func (a *fakeAccounts) NewLogin(_ context.Context, userID, deviceID, _ string, _ bool) (accounts.Credentials, error) {
	a.logins++
	return accounts.Credentials{UserID: userID, DeviceID: deviceID, AccessToken: "login" + strconv.Itoa(a.logins)}, nil
}

func (a *fakeAccounts) GetUser(_ context.Context, userID string) (accounts.User, error) {
	a.store.mu.Lock()
	defer a.store.mu.Unlock()
	u := a.store.users[userID]
	if u == nil {
		return accounts.User{}, accounts.ErrNotFound
	}
	return accounts.User{UserID: userID, Kind: accounts.Kind(u.kind), Deactivated: u.deactivated}, nil
}

func (a *fakeAccounts) GetProfile(_ context.Context, userID string) (accounts.Profile, error) {
	a.store.mu.Lock()
	defer a.store.mu.Unlock()
	u := a.store.users[userID]
	if u == nil {
		return accounts.Profile{}, accounts.ErrNotFound
	}
	return accounts.Profile{DisplayName: u.displayName}, nil
}

// fakeRoom is a room: facts and memberships.
type fakeRoom struct {
	facts   RoomFacts
	members map[string]string
	// inviters may invite.
	inviters map[string]bool
	// failJoin makes every join fail.
	failJoin bool
}

type fakeRooms struct {
	mu    sync.Mutex
	rooms map[string]*fakeRoom
	log   []string
}

var errRoomRefused = errors.New("refused by the room")

func (f *fakeRooms) GuestFacts(_ context.Context, roomID, userID string) (RoomFacts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rooms[roomID]
	if r == nil {
		return RoomFacts{}, nil
	}
	facts := r.facts
	facts.Exists = true
	facts.Membership = r.members[userID]
	facts.CanInvite = r.inviters[userID]
	return facts, nil
}

func (f *fakeRooms) MemberRoomsToLeave(_ context.Context, userID string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, r := range f.rooms {
		switch r.members[userID] {
		case "join", "invite", "knock":
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (f *fakeRooms) JoinedRooms(_ context.Context, userID string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, r := range f.rooms {
		if r.members[userID] == "join" {
			out = append(out, id)
		}
	}
	return out, nil
}

func (f *fakeRooms) set(roomID, userID, membership, op string) {
	f.rooms[roomID].members[userID] = membership
	f.log = append(f.log, op+" "+roomID+" "+userID)
}

func (f *fakeRooms) Join(_ context.Context, roomID, userID, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rooms[roomID]
	if r == nil || r.failJoin || !r.facts.GuestsCanJoin || (r.facts.JoinRule != "public" && r.members[userID] != "invite") {
		return errRoomRefused
	}
	f.set(roomID, userID, "join", "join")
	return nil
}

func (f *fakeRooms) Invite(_ context.Context, roomID, sender, target, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rooms[roomID]
	if r == nil || !r.inviters[sender] || r.members[sender] != "join" {
		return errRoomRefused
	}
	f.set(roomID, target, "invite", "invite")
	return nil
}

// InviteAs is Invite without the guest rule (the fake has none).
func (f *fakeRooms) InviteAs(ctx context.Context, roomID, inviter, target, reason string) error {
	return f.Invite(ctx, roomID, inviter, target, reason)
}

func (f *fakeRooms) Leave(_ context.Context, roomID, userID, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set(roomID, userID, "leave", "leave")
	return nil
}

func (f *fakeRooms) ResolveAlias(_ context.Context, alias string) (string, error) {
	if alias == "#lobby:hs" {
		return "!lobby:hs", nil
	}
	return "", errRoomRefused
}

// fixture is a service over the fakes with a public room !pub, a
// private (invite-only) room !priv, both admitting guests, a room !closed
// that does not, and a lobby; @alice may invite everywhere.
type fixture struct {
	svc   *Service
	store *fakeStore
	accts *fakeAccounts
	rooms *fakeRooms
}

func newFixture(mutate func(o *Options)) *fixture {
	store := newFakeStore()
	accts := &fakeAccounts{store: store}
	room := func(rule string, guests bool) *fakeRoom {
		return &fakeRoom{
			facts:    RoomFacts{GuestsCanJoin: guests, JoinRule: rule},
			members:  map[string]string{"@alice:hs": "join"},
			inviters: map[string]bool{"@alice:hs": true},
		}
	}
	rooms := &fakeRooms{rooms: map[string]*fakeRoom{
		"!pub:hs":    room("public", true),
		"!priv:hs":   room("invite", true),
		"!closed:hs": room("public", false),
		"!lobby:hs":  room("public", true),
	}}
	opts := Options{GuestsEnabled: true, Access: config.Default().GuestAccess}
	if mutate != nil {
		mutate(&opts)
	}
	svc := NewService(store, accts, rooms, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return &fixture{svc: svc, store: store, accts: accts, rooms: rooms}
}
