package guest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"foyer/internal/accounts"
)

// linkTokenLen is the length of a link token: 24 URL-safe characters,
// 144 random bits.
const linkTokenLen = 24

// TokenPrefix is the part of a link token that may appear in logs.
func TokenPrefix(token string) string {
	if len(token) > 6 {
		return token[:6] + "…"
	}
	return "…"
}

// Status says whether the link can be redeemed at now (ms).
func (l Link) Status(now int64) error {
	switch {
	case l.RevokedTS != nil:
		return errLinkRevoked
	case l.ExpiresTS != nil && *l.ExpiresTS <= now:
		return errLinkExpired
	case l.MaxUses != nil && l.Uses >= *l.MaxUses:
		return errLinkExhausted
	}
	return nil
}

// URL is the link's shareable address from guest_access.link_url, or "".
func (s *Service) URL(l Link) string {
	tmpl := s.opts.Access.LinkURL
	if tmpl == "" {
		return ""
	}
	return strings.NewReplacer("{token}", l.Token, "{room_id}", l.RoomID).Replace(tmpl)
}

// LinkRequest asks for a new link. MaxUses 0 means unlimited, ExpiresIn
// 0 never.
type LinkRequest struct {
	RoomID    string
	Creator   string
	MaxUses   int64
	ExpiresIn time.Duration
}

// mayManageLinks checks that userID is joined to a room that allows
// guests and may invite there.
func (s *Service) mayManageLinks(ctx context.Context, roomID, userID string, needGuestAccess bool) error {
	facts, err := s.rooms.GuestFacts(ctx, roomID, userID)
	if err != nil {
		return err
	}
	if !facts.Exists || facts.Membership != "join" || !facts.CanInvite {
		return ErrNotPermitted
	}
	if needGuestAccess && !facts.GuestsCanJoin {
		return fmt.Errorf("%w: set m.room.guest_access to can_join before creating guest links", ErrRoomForbidsGuests)
	}
	return nil
}

// CreateLink makes a guest link for a room whose guest access is
// can_join, on behalf of a member with the power to invite.
func (s *Service) CreateLink(ctx context.Context, req LinkRequest) (Link, error) {
	if !s.opts.GuestsEnabled {
		return Link{}, ErrGuestsDisabled
	}
	if err := s.mayManageLinks(ctx, req.RoomID, req.Creator, true); err != nil {
		return Link{}, err
	}
	now := s.nowMS()
	l := Link{Token: accounts.RandomString(linkTokenLen), RoomID: req.RoomID, Creator: req.Creator, CreatedTS: now}
	if req.MaxUses > 0 {
		l.MaxUses = &req.MaxUses
	}
	if req.ExpiresIn > 0 {
		exp := now + req.ExpiresIn.Milliseconds()
		l.ExpiresTS = &exp
	}
	if err := s.store.CreateLink(ctx, l); err != nil {
		return Link{}, err
	}
	s.log.InfoContext(ctx, "guest link created", "link", TokenPrefix(l.Token), "room_id", l.RoomID, "creator", l.Creator)
	return l, nil
}

// ListLinks lists a room's unrevoked links for a member who may manage
// them.
func (s *Service) ListLinks(ctx context.Context, roomID, userID string) ([]Link, error) {
	if err := s.mayManageLinks(ctx, roomID, userID, false); err != nil {
		return nil, err
	}
	return s.store.ListLinks(ctx, roomID)
}

// RevokeLink revokes one of a room's links.
func (s *Service) RevokeLink(ctx context.Context, roomID, userID, token string) error {
	if err := s.mayManageLinks(ctx, roomID, userID, false); err != nil {
		return err
	}
	if err := s.store.RevokeLink(ctx, roomID, token, s.nowMS()); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "guest link revoked", "link", TokenPrefix(token), "room_id", roomID, "by", userID)
	return nil
}

// Redemption is a redeemed link: the new guest's credentials and room.
type Redemption struct {
	accounts.Credentials
	RoomID string
}

// AllowRedeem applies the per-IP limit on redemptions.
func (s *Service) AllowRedeem(ip string) error {
	if ok, retry := s.redeemLimit.Allow(ip); !ok {
		return &LimitError{Reason: "too many guest link redemptions from this address", RetryAfter: retry}
	}
	return nil
}

// Redeem registers a guest through a link — also when open guest
// registration is off — and joins it to the link's room only (then to
// the auto-join rooms). The public-room policy does not apply: the room
// was reached by link. A failure leaves no guest and no used-up link use
// behind: the checks come first, and a join that fails still undoes the
// registration.
func (s *Service) Redeem(ctx context.Context, token, deviceDisplayName, ip string) (Redemption, error) {
	now := s.nowMS()
	link, facts, err := s.redeemable(ctx, token, now)
	if err != nil {
		return Redemption{}, err
	}
	ok, err := s.store.UseLink(ctx, token, now)
	if err != nil {
		return Redemption{}, err
	}
	if !ok {
		// Used up, revoked or expired since we looked.
		if l, err := s.store.GetLink(ctx, token); err == nil && l.Status(now) != nil {
			return Redemption{}, l.Status(now)
		}
		return Redemption{}, errLinkExhausted
	}
	giveBack := func() {
		if err := s.store.ReturnLinkUse(context.WithoutCancel(ctx), token); err != nil {
			s.log.ErrorContext(ctx, "returning a guest link use", "link", TokenPrefix(token), "err", err)
		}
	}
	creds, err := s.register(ctx, deviceDisplayName)
	if err != nil {
		giveBack()
		return Redemption{}, err
	}
	if err := s.joinThroughLink(ctx, link, facts, creds.UserID); err != nil {
		giveBack()
		return Redemption{}, err
	}
	s.log.InfoContext(ctx, "guest link redeemed", "link", TokenPrefix(token), "room_id", link.RoomID, "user_id", creds.UserID, "ip", ip)
	s.AutoJoin(ctx, creds.UserID)
	return Redemption{Credentials: creds, RoomID: link.RoomID}, nil
}

// CheckRedeemable reports why the link could not be redeemed now, if it
// could not: Redeem's own checks, without using the link.
func (s *Service) CheckRedeemable(ctx context.Context, token string) error {
	_, _, err := s.redeemable(ctx, token, s.nowMS())
	return err
}

// redeemable returns the link and its room's facts when the link may be
// redeemed at now.
func (s *Service) redeemable(ctx context.Context, token string, now int64) (Link, RoomFacts, error) {
	if !s.opts.GuestsEnabled {
		return Link{}, RoomFacts{}, ErrGuestsDisabled
	}
	link, err := s.store.GetLink(ctx, token)
	if err != nil {
		return Link{}, RoomFacts{}, err
	}
	if err := link.Status(now); err != nil {
		return Link{}, RoomFacts{}, err
	}
	facts, err := s.rooms.GuestFacts(ctx, link.RoomID, "")
	if err != nil {
		return Link{}, RoomFacts{}, err
	}
	if !facts.Exists || !facts.GuestsCanJoin {
		return Link{}, RoomFacts{}, fmt.Errorf("%w: this guest link's room no longer admits guests", ErrRoomForbidsGuests)
	}
	return link, facts, nil
}

// joinThroughLink joins a fresh guest to the link's room. Unless the
// room's join rule is public, the link stands for an invite from its
// creator, so the server sends that invite first (the auth rules still
// check that the creator may invite). On failure the guest is undone.
func (s *Service) joinThroughLink(ctx context.Context, link Link, facts RoomFacts, userID string) error {
	invited := false
	if facts.JoinRule != "public" {
		if err := s.rooms.Invite(ctx, link.RoomID, link.Creator, userID, "invited through a guest link"); err != nil {
			s.discardGuest(ctx, userID, false)
			return linkInviteError(err)
		}
		invited = true
	}
	if err := s.rooms.Join(ctx, link.RoomID, userID, ""); err != nil {
		if invited {
			// Reject the invite before the account goes.
			if lerr := s.rooms.Leave(context.WithoutCancel(ctx), link.RoomID, userID, ""); lerr != nil {
				s.log.WarnContext(ctx, "rejecting the invite of a failed link redemption", "user_id", userID, "err", lerr)
			}
		}
		s.discardGuest(ctx, userID, invited)
		return err
	}
	return nil
}

// LinkInviteError: the link's creator can no longer invite to the room.
type LinkInviteError struct{ Err error }

func (e *LinkInviteError) Error() string {
	return "this guest link is no longer valid: its creator can no longer invite to the room"
}
func (e *LinkInviteError) Unwrap() error { return e.Err }

// linkInviteError wraps a failed invite; the HTTP layer answers 403 when
// the room service refused it and 500 for anything else.
func linkInviteError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &LinkInviteError{Err: err}
}
