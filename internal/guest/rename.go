package guest

import (
	"context"
	"errors"
	"fmt"

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
//     name. Nothing else has changed if this fails.
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
}

// ErrNotCarriedOver: a knock cannot be passed on to another account.
var ErrNotCarriedOver = errors.New("a knock cannot be passed on to another account")

// ErrRenameUnderWay: another rename of the same guest is running.
var ErrRenameUnderWay = errors.New("this guest account is already being moved to a new username")

// Rename carries out a rename upgrade. Callers have run the registration
// checks (username free and valid, password policy, user-interactive
// auth) and checked that the session is a guest's.
func (s *Service) Rename(ctx context.Context, req RenameRequest) (RenameResult, error) {
	guestID := req.Guest.UserID
	if !req.Guest.IsGuest() || req.Account.Username == "" {
		return RenameResult{}, ErrNotGuest
	}
	s.renameMu.Lock()
	if s.renaming == nil {
		s.renaming = map[string]bool{}
	}
	if s.renaming[guestID] {
		s.renameMu.Unlock()
		return RenameResult{}, ErrRenameUnderWay
	}
	s.renaming[guestID] = true
	s.renameMu.Unlock()
	defer func() {
		s.renameMu.Lock()
		delete(s.renaming, guestID)
		s.renameMu.Unlock()
	}()

	// The token was checked by the caller; the account may have gone
	// since (an earlier rename, expiry, an admin).
	u, err := s.accounts.GetUser(ctx, guestID)
	if errors.Is(err, accounts.ErrNotFound) || (err == nil && (u.Kind != accounts.KindGuest || u.Deactivated)) {
		return RenameResult{}, ErrNotGuest
	}
	if err != nil {
		return RenameResult{}, err
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
	creds, err := s.accounts.Register(ctx, reg)
	if err != nil {
		return RenameResult{}, err
	}

	// From here on the new account exists: finish even if the client
	// goes away, so the guest is never left half moved.
	ctx = context.WithoutCancel(ctx)
	res := RenameResult{Credentials: creds, PreviousUserID: guestID, Moved: []string{}, NotMoved: []NotMoved{}}
	reason := "continues as " + creds.UserID
	for _, roomID := range roomIDs {
		membership, err := s.moveRoom(ctx, roomID, guestID, creds.UserID, reason)
		if err != nil {
			s.log.Warn("guest rename: room not moved", "room_id", roomID, "user_id", guestID, "new_user_id", creds.UserID,
				"membership", membership, "err", err)
			res.NotMoved = append(res.NotMoved, NotMoved{RoomID: roomID, Membership: membership, Err: err})
			continue
		}
		if membership != "" {
			res.Moved = append(res.Moved, roomID)
		}
	}

	// The guest goes as an expired guest does: deactivated (tokens dead,
	// devices and keys deleted) and out of every room it is still in —
	// the rooms not moved, and any it entered meanwhile.
	_, err = s.claimAndDeactivate(ctx, guestID, 0)
	if err != nil {
		s.log.Error("guest rename: deactivating the guest", "user_id", guestID, "new_user_id", creds.UserID, "err", err)
	}
	if err := s.leaveAll(ctx, guestID, reason, err == nil); err != nil {
		s.log.Error("guest rename: the guest could not leave its rooms", "user_id", guestID, "err", err)
	}
	return res, nil
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
					s.log.Warn("guest rename: rejecting an unusable invite", "room_id", roomID, "user_id", newID, "err", lerr)
				}
				return facts.Membership, fmt.Errorf("%s could not join this room: %w", newID, err)
			}
		}
		if err := s.rooms.Leave(ctx, roomID, guestID, reason); err != nil {
			// The new account is in; the final leaveAll tries again.
			s.log.Warn("guest rename: the guest could not leave a moved room", "room_id", roomID, "user_id", guestID, "err", err)
		}
		return facts.Membership, nil
	case "invite":
		if err := s.rooms.InviteAs(ctx, roomID, guestID, newID, "moving from the guest account "+guestID); err != nil {
			return facts.Membership, fmt.Errorf("%s was invited to this room but had not joined it, so it cannot pass the invitation on to %s; ask a member to invite %s: %w",
				guestID, newID, newID, err)
		}
		if err := s.rooms.Leave(ctx, roomID, guestID, reason); err != nil {
			s.log.Warn("guest rename: the guest could not reject a passed-on invite", "room_id", roomID, "user_id", guestID, "err", err)
		}
		return facts.Membership, nil
	case "knock":
		return facts.Membership, fmt.Errorf("%w; knock again as %s", ErrNotCarriedOver, newID)
	}
	return "", nil
}
