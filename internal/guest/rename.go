package guest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"foyer/internal/accounts"
)

// The rename upgrade (a Foyer extension beside the spec's upgrade, G-37..
// G-39): a guest continues as a new account with a username of its
// choosing. The spec's upgrade keeps the guest's numeric user ID; a user
// ID never changes in Matrix, so choosing a real name means a new account,
// which takes the guest's place in each of its rooms:
//
//  1. The new account is created (a named guest, or a full user with a
//     password) with its own device and token and the guest's display
//     name. In the same transaction the guest is claimed (so an in-place
//     upgrade of it cannot also succeed) and the rename recorded (state
//     moving), so it can be finished if the process stops half-way.
//     Nothing else has changed if this fails.
//  2. For each room the guest is joined to, the new account joins: at
//     once when the join rule is public, otherwise after an invite from
//     the guest itself (InviteAs: the room's auth rules decide whether the
//     guest may invite; when it may not, the room is not moved). Then the
//     guest leaves, by its own leave event. For a room the guest was only
//     invited to, the guest's invite is tried the same way (the auth
//     rules refuse it unless the guest has joined). A knock is not
//     carried over.
//  3. The guest leaves every room it is still in, with a reason that
//     names the new account, and is deactivated (its tokens stop working
//     at once), through the same steps as expiry.
//
// A rename cut short is finished at the next start as far as it can be
// without the client (the rooms move, the guest leaves the rest: state
// moved) and completely when the guest repeats the request with the same
// username: the rest of the rooms move, the new account gets a token and
// the guest goes (state done).
//
// Every change is an event through the room service's normal write path.
// Messages the guest sent stay in the rooms under its old user ID; its
// device and end-to-end keys stay bound to that ID and go with it.

// RenameRequest asks for a rename upgrade.
type RenameRequest struct {
	// Guest is the session of the guest_access_token.
	Guest accounts.Session
	// Account is the new account's registration: Username (required),
	// Password (empty: a named guest), device and registration token. Its
	// Guest and DisplayName are set here.
	Account accounts.RegisterRequest
}

// NotMoved is a room the rename could not carry over.
type NotMoved struct {
	RoomID string
	// Membership is the guest's there: join, invite or knock.
	Membership string
	// Err says why: the room service's refusal (wrapped with an
	// explanation), or ErrNotCarriedOver.
	Err error
}

// RenameResult is the new account and what became of the guest's rooms.
type RenameResult struct {
	accounts.Credentials
	PreviousUserID string
	// Moved are the rooms the new account was joined to (or, for a room
	// the guest was invited to, invited to) in the guest's place.
	Moved    []string
	NotMoved []NotMoved
	// Resumed: this request finished a rename an earlier one began.
	Resumed bool
}

// ErrNotCarriedOver: a knock cannot be passed on to another account.
var ErrNotCarriedOver = errors.New("a knock cannot be passed on to another account")

// ErrRenameUnderWay: another rename of the same guest is running.
var ErrRenameUnderWay = errors.New("this guest account is already being moved to a new username")

// RenameConflictError: the guest has begun a rename to another username;
// only a repeat of that one can finish it.
type RenameConflictError struct{ NewUserID string }

func (e *RenameConflictError) Error() string {
	return "this guest account is already moving to " + e.NewUserID + "; repeat that request (same username) to finish it"
}

// beginRename marks a guest's rename as running in this process; false,
// with a channel that closes when it ends, when it is already.
func (s *Service) beginRename(guestID string) (bool, <-chan struct{}) {
	s.renameMu.Lock()
	defer s.renameMu.Unlock()
	if s.renaming == nil {
		s.renaming = map[string]chan struct{}{}
	}
	if running, ok := s.renaming[guestID]; ok {
		return false, running
	}
	s.renaming[guestID] = make(chan struct{})
	return true, nil
}

func (s *Service) endRename(guestID string) {
	s.renameMu.Lock()
	if done, ok := s.renaming[guestID]; ok {
		close(done)
		delete(s.renaming, guestID)
	}
	s.renameMu.Unlock()
}

// maxRenameWait bounds how long a repeated rename request waits for the
// one under way (another request, or the recovery of a rename cut short)
// before it is refused.
const maxRenameWait = 30 * time.Second

// AfterRenamedRoom registers f to hear, after each room a rename moves,
// how many rooms that rename has moved so far. Only Foyer's crash tests
// use it, to stop the process half-way (cmd/foyer).
func (s *Service) AfterRenamedRoom(f func(moved int)) { s.afterRenamedRoom = f }

// ContinuesRename reports whether a rename request of guestID for
// username would finish a rename the guest has begun: then the username
// is taken by the guest's own new account, which is no refusal.
func (s *Service) ContinuesRename(ctx context.Context, guestID, username string) (bool, error) {
	r, ok, err := s.store.GetRename(ctx, guestID)
	if err != nil || !ok {
		return false, err
	}
	return r.State != RenameDone && sameUsername(r.NewUserID, username), nil
}

// sameUsername reports whether username names the account userID.
func sameUsername(userID, username string) bool {
	_, server, ok := accounts.SplitUserID(userID)
	if !ok {
		return false
	}
	lp, err := accounts.NormaliseLocalpart(username, server)
	return err == nil && accounts.UserID(lp, server) == userID
}

// Rename carries out a rename upgrade. Callers have run the registration
// checks (username free and valid, unless ContinuesRename, password
// policy, user-interactive auth) and checked that the session is a
// guest's.
//
// The rename is recorded, and the guest claimed, in the transaction that
// creates the new account: an in-place upgrade of the same guest cannot
// also succeed, and a rename cut short (the process stopped) is finished
// when the guest repeats the request or at the next start
// (runRenameRecovery).
func (s *Service) Rename(ctx context.Context, req RenameRequest) (RenameResult, error) {
	guestID := req.Guest.UserID
	if !req.Guest.IsGuest() || req.Account.Username == "" {
		return RenameResult{}, ErrNotGuest
	}
	// A rename under way (this guest's earlier request, or the recovery
	// of one cut short) is waited for: the repeat then finishes or
	// resumes it, as the client meant.
	deadline := time.NewTimer(maxRenameWait)
	defer deadline.Stop()
	for {
		ok, running := s.beginRename(guestID)
		if ok {
			break
		}
		select {
		case <-running:
		case <-deadline.C:
			return RenameResult{}, ErrRenameUnderWay
		case <-ctx.Done():
			return RenameResult{}, ctx.Err()
		}
	}
	defer s.endRename(guestID)

	// The token was checked by the caller; the account may have gone
	// since (an earlier rename, expiry, an admin).
	u, err := s.accounts.GetUser(ctx, guestID)
	if errors.Is(err, accounts.ErrNotFound) || (err == nil && (u.Kind != accounts.KindGuest || u.Deactivated)) {
		return RenameResult{}, ErrNotGuest
	}
	if err != nil {
		return RenameResult{}, err
	}
	if r, ok, err := s.store.GetRename(ctx, guestID); err != nil {
		return RenameResult{}, err
	} else if ok {
		return s.resumeRename(ctx, req, r)
	}
	roomIDs, err := s.rooms.MemberRoomsToLeave(ctx, guestID)
	if err != nil {
		return RenameResult{}, err
	}
	profile, err := s.accounts.GetProfile(ctx, guestID)
	if err != nil && !errors.Is(err, accounts.ErrNotFound) {
		return RenameResult{}, err
	}

	reg := req.Account
	reg.Guest = nil
	reg.DisplayName = profile.DisplayName
	reg.RenameOf = guestID
	creds, err := s.accounts.Register(ctx, reg)
	if err != nil {
		return RenameResult{}, err
	}

	// From here on the new account exists: finish even if the client
	// goes away, so the guest is never left half moved.
	ctx = context.WithoutCancel(ctx)
	res := RenameResult{Credentials: creds, PreviousUserID: guestID}
	res.NotMoved = s.moveRooms(ctx, guestID, creds.UserID, roomIDs)
	if res.Moved, err = s.movedRooms(ctx, guestID); err != nil {
		s.log.ErrorContext(ctx, "guest rename: listing the moved rooms", "user_id", guestID, "err", err)
	}
	s.finishRename(ctx, guestID, creds.UserID)
	return res, nil
}

// resumeRename finishes a rename an earlier request began: the rooms not
// moved yet are moved, the new account gets a token (as the first
// request would have answered; the one it issued is replaced, it never
// reached the client) and the guest goes.
func (s *Service) resumeRename(ctx context.Context, req RenameRequest, r Rename) (RenameResult, error) {
	if r.State == RenameDone {
		return RenameResult{}, ErrNotGuest
	}
	if !sameUsername(r.NewUserID, req.Account.Username) {
		return RenameResult{}, &RenameConflictError{NewUserID: r.NewUserID}
	}
	ctx = context.WithoutCancel(ctx)
	roomIDs, err := s.rooms.MemberRoomsToLeave(ctx, r.GuestUserID)
	if err != nil {
		return RenameResult{}, err
	}
	res := RenameResult{Credentials: accounts.Credentials{UserID: r.NewUserID}, PreviousUserID: r.GuestUserID, Resumed: true}
	res.NotMoved = s.moveRooms(ctx, r.GuestUserID, r.NewUserID, roomIDs)
	if !req.Account.InhibitLogin {
		deviceID := req.Account.DeviceID
		if deviceID == "" {
			deviceID = r.NewDeviceID
		}
		if res.Credentials, err = s.accounts.NewLogin(ctx, r.NewUserID, deviceID, req.Account.DeviceDisplayName, req.Account.RefreshToken); err != nil {
			// The guest stays; another repeat can finish.
			return RenameResult{}, err
		}
	}
	if res.Moved, err = s.movedRooms(ctx, r.GuestUserID); err != nil {
		return RenameResult{}, err
	}
	s.finishRename(ctx, r.GuestUserID, r.NewUserID)
	s.log.InfoContext(ctx, "guest rename finished on retry", "user_id", r.GuestUserID, "new_user_id", r.NewUserID)
	return res, nil
}

// movedRooms lists the rooms a rename of guestID has moved, across every
// attempt; never nil, so the answer lists none as [].
func (s *Service) movedRooms(ctx context.Context, guestID string) ([]string, error) {
	moved, err := s.store.RenamedRooms(ctx, guestID)
	if moved == nil {
		moved = []string{}
	}
	return moved, err
}

// moveRooms moves each of roomIDs from the guest to newID, recording the
// rooms moved, and returns those it could not move.
func (s *Service) moveRooms(ctx context.Context, guestID, newID string, roomIDs []string) []NotMoved {
	notMoved := []NotMoved{}
	reason := "continues as " + newID
	moved := 0
	for _, roomID := range roomIDs {
		membership, err := s.moveRoom(ctx, roomID, guestID, newID, reason)
		if err != nil {
			s.log.WarnContext(ctx, "guest rename: room not moved", "room_id", roomID, "user_id", guestID, "new_user_id", newID,
				"membership", membership, "err", err)
			notMoved = append(notMoved, NotMoved{RoomID: roomID, Membership: membership, Err: err})
			continue
		}
		if membership == "" {
			continue
		}
		if err := s.store.AddRenamedRoom(ctx, guestID, roomID); err != nil {
			s.log.ErrorContext(ctx, "guest rename: recording a moved room", "room_id", roomID, "user_id", guestID, "err", err)
		}
		moved++
		if s.afterRenamedRoom != nil {
			s.afterRenamedRoom(moved)
		}
	}
	return notMoved
}

// finishRename ends the guest as an expired guest ends: deactivated
// (tokens dead, devices and keys deleted) and out of every room it is
// still in — the rooms not moved, and any it entered meanwhile — and
// marks the rename done.
func (s *Service) finishRename(ctx context.Context, guestID, newID string) {
	_, err := s.claimAndDeactivate(ctx, guestID, 0)
	if err != nil {
		s.log.ErrorContext(ctx, "guest rename: deactivating the guest", "user_id", guestID, "new_user_id", newID, "err", err)
	}
	if err := s.leaveAll(ctx, guestID, "continues as "+newID, err == nil); err != nil {
		s.log.ErrorContext(ctx, "guest rename: the guest could not leave its rooms", "user_id", guestID, "err", err)
	}
	if err := s.store.SetRenameState(ctx, guestID, RenameDone, s.nowMS()); err != nil {
		s.log.ErrorContext(ctx, "guest rename: marking it done", "user_id", guestID, "err", err)
	}
}

// runRenameRecovery finishes, as far as it can without the client, the
// renames a stopped process left in RenameMoving: the rooms are moved
// and the guest leaves the rest, so no room is left half moved. The
// guest itself stays (RenameMoved) until it repeats the request, which
// hands it the new account's token: a passwordless new account has no
// other way in.
func (s *Service) runRenameRecovery(ctx context.Context) {
	list, err := s.store.UnfinishedRenames(ctx, expiryBatch)
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "guest rename recovery: listing unfinished renames", "err", err)
		}
		return
	}
	for _, r := range list {
		if ctx.Err() != nil {
			return
		}
		if ok, _ := s.beginRename(r.GuestUserID); !ok {
			continue // a request of this process is finishing it
		}
		s.recoverRename(context.WithoutCancel(ctx), r)
		s.endRename(r.GuestUserID)
	}
}

func (s *Service) recoverRename(ctx context.Context, r Rename) {
	u, err := s.accounts.GetUser(ctx, r.GuestUserID)
	if errors.Is(err, accounts.ErrNotFound) || (err == nil && u.Deactivated) {
		// Gone already (the rename stopped after deactivating it, or
		// expiry or an admin removed it).
		if err := s.store.SetRenameState(ctx, r.GuestUserID, RenameDone, s.nowMS()); err != nil {
			s.log.ErrorContext(ctx, "guest rename recovery: marking it done", "user_id", r.GuestUserID, "err", err)
		}
		return
	}
	if err != nil {
		s.log.ErrorContext(ctx, "guest rename recovery", "user_id", r.GuestUserID, "err", err)
		return
	}
	roomIDs, err := s.rooms.MemberRoomsToLeave(ctx, r.GuestUserID)
	if err != nil {
		s.log.ErrorContext(ctx, "guest rename recovery: listing the guest's rooms", "user_id", r.GuestUserID, "err", err)
		return
	}
	notMoved := s.moveRooms(ctx, r.GuestUserID, r.NewUserID, roomIDs)
	reason := "continues as " + r.NewUserID
	for _, n := range notMoved {
		if err := s.rooms.Leave(ctx, n.RoomID, r.GuestUserID, reason); err != nil {
			s.log.WarnContext(ctx, "guest rename recovery: the guest could not leave a room", "room_id", n.RoomID, "user_id", r.GuestUserID, "err", err)
		}
	}
	if err := s.store.SetRenameState(ctx, r.GuestUserID, RenameMoved, s.nowMS()); err != nil {
		s.log.ErrorContext(ctx, "guest rename recovery: marking it moved", "user_id", r.GuestUserID, "err", err)
		return
	}
	s.log.InfoContext(ctx, "guest rename finished after a restart; the guest stays until it repeats the request",
		"user_id", r.GuestUserID, "new_user_id", r.NewUserID, "rooms_not_moved", len(notMoved))
}

// moveRoom puts newID in guestID's place in one room. It returns the
// guest's membership there ("" when it has none any more: nothing to
// move) and why the room could not be moved.
func (s *Service) moveRoom(ctx context.Context, roomID, guestID, newID, reason string) (string, error) {
	facts, err := s.rooms.GuestFacts(ctx, roomID, guestID)
	if err != nil {
		return "", err
	}
	switch facts.Membership {
	case "join":
		joined := false
		if facts.JoinRule == "public" {
			// Anyone may join; if that fails, try the invite.
			joined = s.rooms.Join(ctx, roomID, newID, "") == nil
		}
		if !joined {
			if err := s.rooms.InviteAs(ctx, roomID, guestID, newID, "moving from the guest account "+guestID); err != nil {
				return facts.Membership, fmt.Errorf("%s could not invite %s to this room: %w", guestID, newID, err)
			}
			if err := s.rooms.Join(ctx, roomID, newID, ""); err != nil {
				// Reject the invite rather than leave it dangling.
				if lerr := s.rooms.Leave(ctx, roomID, newID, ""); lerr != nil {
					s.log.WarnContext(ctx, "guest rename: rejecting an unusable invite", "room_id", roomID, "user_id", newID, "err", lerr)
				}
				return facts.Membership, fmt.Errorf("%s could not join this room: %w", newID, err)
			}
		}
		if err := s.rooms.Leave(ctx, roomID, guestID, reason); err != nil {
			// The new account is in; the final leaveAll tries again.
			s.log.WarnContext(ctx, "guest rename: the guest could not leave a moved room", "room_id", roomID, "user_id", guestID, "err", err)
		}
		return facts.Membership, nil
	case "invite":
		if err := s.rooms.InviteAs(ctx, roomID, guestID, newID, "moving from the guest account "+guestID); err != nil {
			return facts.Membership, fmt.Errorf("%s was invited to this room but had not joined it, so it cannot pass the invitation on to %s; ask a member to invite %s: %w",
				guestID, newID, newID, err)
		}
		if err := s.rooms.Leave(ctx, roomID, guestID, reason); err != nil {
			s.log.WarnContext(ctx, "guest rename: the guest could not reject a passed-on invite", "room_id", roomID, "user_id", guestID, "err", err)
		}
		return facts.Membership, nil
	case "knock":
		return facts.Membership, fmt.Errorf("%w; knock again as %s", ErrNotCarriedOver, newID)
	}
	return "", nil
}
