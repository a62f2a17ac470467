package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"foyer/internal/accounts"
	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// Profile limits. The spec lets servers cap fields; these match what
// other servers accept, and keep member events small.
const (
	MaxDisplayNameChars = 256
	MaxAvatarURLBytes   = 1024
)

// LookupProfile returns a user's profile for requester ("" when the
// caller is unauthenticated). Unknown and deactivated users are not
// found.
//
// G-49 requires lookups of users who share a room with the requester or
// are joined to public or world_readable rooms; Foyer allows every lookup
// of a local user, which covers those cases (guests included) and keeps
// the answer independent of who asks. Remote users are looked up over
// federation by the client API (remoteprofile); here, as with federation
// disabled, they are not found.
func (s *Service) LookupProfile(ctx context.Context, requester, userID string) (accounts.Profile, error) {
	_, server, ok := matrixevents.SplitUserID(userID)
	if !ok {
		return accounts.Profile{}, refusal.New(refusal.InvalidParam, "%q is not a user ID", userID)
	}
	if server != s.serverName {
		return accounts.Profile{}, refusal.New(refusal.NotFound, "cannot look up %s: federation is disabled", userID)
	}
	u, err := s.accounts.GetUser(ctx, userID)
	if errors.Is(err, accounts.ErrNotFound) || (err == nil && u.Deactivated) {
		return accounts.Profile{}, refusal.New(refusal.NotFound, "there is no user %s", userID)
	}
	if err != nil {
		return accounts.Profile{}, err
	}
	p, err := s.accounts.GetProfile(ctx, userID)
	if errors.Is(err, accounts.ErrNotFound) {
		return accounts.Profile{}, nil
	}
	return p, err
}

// ValidMXC reports whether s is an mxc://server/media-id URI.
func ValidMXC(s string) bool {
	rest, ok := strings.CutPrefix(s, "mxc://")
	if !ok {
		return false
	}
	server, mediaID, ok := strings.Cut(rest, "/")
	if !ok || mediaID == "" || !matrixevents.ValidServerName(server) {
		return false
	}
	for _, c := range mediaID {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// SetDisplayName sets (or with "" removes) userID's display name and
// announces it in every room the user has joined (G-50). Guests may do
// this (G-15); the HTTP layer checks that callers change only their own.
func (s *Service) SetDisplayName(ctx context.Context, userID, name string) error {
	if n := utf8.RuneCountInString(name); n > MaxDisplayNameChars {
		return refusal.New(refusal.InvalidParam, "a display name may have at most %d characters; this one has %d", MaxDisplayNameChars, n)
	}
	if err := s.accounts.SetDisplayName(ctx, userID, name); err != nil {
		return err
	}
	return s.RefreshMemberProfiles(ctx, userID)
}

// SetAvatarURL sets (or with "" removes) userID's avatar and announces it
// like SetDisplayName. Clients mean an mxc:// URI, but older ones set
// other URLs and other servers accept them, so any string is kept. Guests may not
// (G-15): the route is closed to them.
func (s *Service) SetAvatarURL(ctx context.Context, userID, url string) error {
	if url != "" {
		if len(url) > MaxAvatarURLBytes {
			return refusal.New(refusal.InvalidParam, "avatar_url may be at most %d bytes long", MaxAvatarURLBytes)
		}
	}
	if err := s.accounts.SetAvatarURL(ctx, userID, url); err != nil {
		return err
	}
	return s.RefreshMemberProfiles(ctx, userID)
}

// RefreshMemberProfiles sends a new m.room.member join event, carrying
// the user's current display name and avatar, into every room the user
// has joined whose member event does not already say so (G-50). The
// profile is read under each room's lock, so concurrent changes end with
// every room showing the latest one. A room that refuses the event is
// logged and skipped: the profile itself has already changed.
func (s *Service) RefreshMemberProfiles(ctx context.Context, userID string) error {
	roomIDs, err := s.store.RoomsWithMembership(ctx, userID, "join")
	if err != nil {
		return err
	}
	for _, roomID := range roomIDs {
		if err := s.refreshMemberProfile(ctx, roomID, userID); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.ErrorContext(ctx, "announcing a profile change", "room_id", roomID, "user_id", userID, "err", err)
		}
	}
	return nil
}

func (s *Service) refreshMemberProfile(ctx context.Context, roomID, userID string) error {
	e, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return err
	}
	defer e.mu.Unlock()
	snap := RoomSnapshot{Info: e.info, State: e.state}
	cur, ok := snap.Get("m.room.member", userID)
	if !ok || cur.Event.Membership() != "join" {
		return nil
	}
	p, err := s.accounts.GetProfile(ctx, userID)
	if err != nil && !errors.Is(err, accounts.ErrNotFound) {
		return err
	}
	var old struct {
		DisplayName string `json:"displayname"`
		AvatarURL   string `json:"avatar_url"`
	}
	_ = json.Unmarshal(cur.Event.Content(), &old)
	if old.DisplayName == p.DisplayName && old.AvatarURL == p.AvatarURL {
		return nil
	}
	// A fresh join content: the profile and nothing else of the old event
	// (a reason or a restricted-join authoriser belongs to that event).
	content := map[string]any{"membership": "join"}
	if p.DisplayName != "" {
		content["displayname"] = p.DisplayName
	}
	if p.AvatarURL != "" {
		content["avatar_url"] = p.AvatarURL
	}
	d := newDraft(e)
	key := userID
	if _, err := s.add(d, eventRequest{Sender: userID, Type: "m.room.member", StateKey: &key, Content: content}); err != nil {
		return err
	}
	_, err = s.commit(ctx, e, d, false, nil, nil)
	return err
}
