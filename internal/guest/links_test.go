package guest

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

func int64p(v int64) *int64 { return &v }

func TestLinkStatus(t *testing.T) {
	now := int64(1000)
	for name, c := range map[string]struct {
		l    Link
		want error
	}{
		"fresh":       {Link{}, nil},
		"uses left":   {Link{MaxUses: int64p(2), Uses: 1}, nil},
		"used up":     {Link{MaxUses: int64p(2), Uses: 2}, errLinkExhausted},
		"not expired": {Link{ExpiresTS: int64p(1001)}, nil},
		"expired":     {Link{ExpiresTS: int64p(1000)}, errLinkExpired},
		"revoked":     {Link{RevokedTS: int64p(5)}, errLinkRevoked},
	} {
		if got := c.l.Status(now); got != c.want {
			t.Errorf("%s: got %v want %v", name, got, c.want)
		}
	}
	if IsLinkNotFound(errLinkRevoked) || !IsLinkNotFound(ErrLinkNotFound) {
		t.Error("IsLinkNotFound is wrong")
	}
}

func TestLinkTokenPrefixHidesTheToken(t *testing.T) {
	tok := "abcdefghijklmnopqrstuvwx"
	if p := TokenPrefix(tok); p != "abcdef…" {
		t.Fatalf("prefix %q", p)
	}
	if p := TokenPrefix("abc"); p != "…" {
		t.Fatalf("short token shown: %q", p)
	}
}

func TestCreateLinkNeedsInvitePowerAndGuestAccess(t *testing.T) {
	f := newFixture(nil)
	ctx := context.Background()
	l, err := f.svc.CreateLink(ctx, LinkRequest{RoomID: "!pub:hs", Creator: "@alice:hs", MaxUses: 3, ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Token) != linkTokenLen || *l.MaxUses != 3 || l.ExpiresTS == nil || *l.ExpiresTS <= l.CreatedTS {
		t.Fatalf("link %+v", l)
	}
	if _, err := f.svc.CreateLink(ctx, LinkRequest{RoomID: "!pub:hs", Creator: "@bob:hs"}); !errors.Is(err, ErrNotPermitted) {
		t.Fatalf("non-member: %v", err)
	}
	if _, err := f.svc.CreateLink(ctx, LinkRequest{RoomID: "!nowhere:hs", Creator: "@alice:hs"}); !errors.Is(err, ErrNotPermitted) {
		t.Fatalf("unknown room: %v", err)
	}
	if _, err := f.svc.CreateLink(ctx, LinkRequest{RoomID: "!closed:hs", Creator: "@alice:hs"}); !errors.Is(err, ErrRoomForbidsGuests) {
		t.Fatalf("room without can_join: %v", err)
	}
	// Listing and revoking need the same power.
	if _, err := f.svc.ListLinks(ctx, "!pub:hs", "@bob:hs"); !errors.Is(err, ErrNotPermitted) {
		t.Fatalf("list by non-member: %v", err)
	}
	if err := f.svc.RevokeLink(ctx, "!priv:hs", "@alice:hs", l.Token); !IsLinkNotFound(err) {
		t.Fatalf("revoking through another room: %v", err)
	}
	if err := f.svc.RevokeLink(ctx, "!pub:hs", "@alice:hs", l.Token); err != nil {
		t.Fatal(err)
	}
	links, err := f.svc.ListLinks(ctx, "!pub:hs", "@alice:hs")
	if err != nil || len(links) != 0 {
		t.Fatalf("revoked link still listed: %v %v", links, err)
	}
	f.svc.opts.GuestsEnabled = false
	if _, err := f.svc.CreateLink(ctx, LinkRequest{RoomID: "!pub:hs", Creator: "@alice:hs"}); !errors.Is(err, ErrGuestsDisabled) {
		t.Fatalf("guests off: %v", err)
	}
}

func TestLinkRedeemJoinsThroughInviteUnlessPublic(t *testing.T) {
	f := newFixture(nil)
	ctx := context.Background()
	for _, room := range []string{"!pub:hs", "!priv:hs"} {
		l, err := f.svc.CreateLink(ctx, LinkRequest{RoomID: room, Creator: "@alice:hs", MaxUses: 1})
		if err != nil {
			t.Fatal(err)
		}
		red, err := f.svc.Redeem(ctx, l.Token, "", "192.0.2.1")
		if err != nil {
			t.Fatalf("%s: %v", room, err)
		}
		if red.RoomID != room || f.rooms.rooms[room].members[red.UserID] != "join" {
			t.Fatalf("%s: not joined: %+v", room, red)
		}
		// One use only.
		if _, err := f.svc.Redeem(ctx, l.Token, "", "192.0.2.1"); err != errLinkExhausted {
			t.Fatalf("%s: second use: %v", room, err)
		}
	}
	want := []string{"join !pub:hs @1:hs", "invite !priv:hs @2:hs", "join !priv:hs @2:hs"}
	if !slices.Equal(f.rooms.log, want) {
		t.Fatalf("room writes %q, want %q", f.rooms.log, want)
	}
}

// A redemption that cannot complete leaves no guest and gives its use
// back.
func TestRedeemFailureLeavesNoGuest(t *testing.T) {
	f := newFixture(nil)
	ctx := context.Background()
	l, _ := f.svc.CreateLink(ctx, LinkRequest{RoomID: "!pub:hs", Creator: "@alice:hs", MaxUses: 1})

	// The room stopped admitting guests: refused before registering.
	f.rooms.rooms["!pub:hs"].facts.GuestsCanJoin = false
	if _, err := f.svc.Redeem(ctx, l.Token, "", "ip"); !errors.Is(err, ErrRoomForbidsGuests) {
		t.Fatalf("got %v", err)
	}
	if len(f.store.users) != 0 || f.accts.next != 0 {
		t.Fatalf("a guest was registered: %v", f.store.users)
	}
	// The join fails after registering: the guest is deleted, the use
	// returned.
	f.rooms.rooms["!pub:hs"].facts.GuestsCanJoin = true
	f.rooms.rooms["!pub:hs"].failJoin = true
	if _, err := f.svc.Redeem(ctx, l.Token, "", "ip"); !errors.Is(err, errRoomRefused) {
		t.Fatalf("got %v", err)
	}
	if len(f.store.users) != 0 || len(f.store.deleted) != 1 {
		t.Fatalf("guest left behind: users %v deleted %v", f.store.users, f.store.deleted)
	}
	if got := f.store.links[l.Token].Uses; got != 0 {
		t.Fatalf("use not returned: %d", got)
	}
	// The creator can no longer invite to a private room: the guest goes
	// too, and the answer says the link is no longer valid.
	lp, _ := f.svc.CreateLink(ctx, LinkRequest{RoomID: "!priv:hs", Creator: "@alice:hs"})
	f.rooms.rooms["!priv:hs"].inviters["@alice:hs"] = false
	var inv *LinkInviteError
	if _, err := f.svc.Redeem(ctx, lp.Token, "", "ip"); !errors.As(err, &inv) {
		t.Fatalf("got %v", err)
	}
	if len(f.store.users) != 0 {
		t.Fatalf("guest left behind: %v", f.store.users)
	}
	// Unknown, revoked and expired links.
	if _, err := f.svc.Redeem(ctx, "nope", "", "ip"); !IsLinkNotFound(err) {
		t.Fatalf("unknown: %v", err)
	}
	_ = f.svc.RevokeLink(ctx, "!pub:hs", "@alice:hs", l.Token)
	if _, err := f.svc.Redeem(ctx, l.Token, "", "ip"); err != errLinkRevoked {
		t.Fatalf("revoked: %v", err)
	}
	le, _ := f.svc.CreateLink(ctx, LinkRequest{RoomID: "!pub:hs", Creator: "@alice:hs", ExpiresIn: time.Millisecond})
	f.svc.now = func() time.Time { return time.Now().Add(time.Second) }
	if _, err := f.svc.Redeem(ctx, le.Token, "", "ip"); err != errLinkExpired {
		t.Fatalf("expired: %v", err)
	}
}

func TestRedeemWorksWithOpenRegistrationOffButNotWithGuestsOff(t *testing.T) {
	f := newFixture(func(o *Options) { o.Access.OpenRegistration = false })
	ctx := context.Background()
	if err := f.svc.OpenRegistration(); !errors.Is(err, ErrLinksOnly) {
		t.Fatalf("open registration: %v", err)
	}
	l, _ := f.svc.CreateLink(ctx, LinkRequest{RoomID: "!pub:hs", Creator: "@alice:hs"})
	if _, err := f.svc.Redeem(ctx, l.Token, "", "ip"); err != nil {
		t.Fatalf("links-only redemption: %v", err)
	}
	f.svc.opts.GuestsEnabled = false
	if _, err := f.svc.Redeem(ctx, l.Token, "", "ip"); !errors.Is(err, ErrGuestsDisabled) {
		t.Fatalf("guests off: %v", err)
	}
	if err := f.svc.OpenRegistration(); !errors.Is(err, ErrGuestsDisabled) {
		t.Fatalf("guests off: %v", err)
	}
}

func TestGuestAutoJoinSkipsRoomsThatRefuse(t *testing.T) {
	f := newFixture(func(o *Options) {
		o.Access.AutoJoinRooms = []string{"#lobby:hs", "!closed:hs", "#missing:hs", "!pub:hs"}
	})
	creds, err := f.svc.Register(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	joined, _ := f.rooms.JoinedRooms(context.Background(), creds.UserID)
	slices.Sort(joined)
	if !slices.Equal(joined, []string{"!lobby:hs", "!pub:hs"}) {
		t.Fatalf("auto-joined %v", joined)
	}
}

func TestLiveGuestCap(t *testing.T) {
	f := newFixture(func(o *Options) { o.Access.MaxLive = 2 })
	ctx := context.Background()
	for range 2 {
		if _, err := f.svc.Register(ctx, ""); err != nil {
			t.Fatal(err)
		}
	}
	var lim *LimitError
	if _, err := f.svc.Register(ctx, ""); !errors.As(err, &lim) || lim.RetryAfter <= 0 {
		t.Fatalf("third guest: %v", err)
	}
	// A link redemption is under the cap too, and gives its use back.
	l, _ := f.svc.CreateLink(ctx, LinkRequest{RoomID: "!pub:hs", Creator: "@alice:hs"})
	if _, err := f.svc.Redeem(ctx, l.Token, "", "ip"); !errors.As(err, &lim) {
		t.Fatalf("redemption over the cap: %v", err)
	}
	if f.store.links[l.Token].Uses != 0 {
		t.Fatal("use not returned")
	}
}

// Each redemption is logged with the link's token prefix, the room, the
// new user and the IP — never the whole token.
func TestLinkRedeemLogsTokenPrefixOnly(t *testing.T) {
	f := newFixture(nil)
	var buf strings.Builder
	f.svc.log = slog.New(slog.NewTextHandler(&buf, nil))
	ctx := context.Background()
	l, _ := f.svc.CreateLink(ctx, LinkRequest{RoomID: "!pub:hs", Creator: "@alice:hs"})
	red, err := f.svc.Redeem(ctx, l.Token, "", "198.51.100.7")
	if err != nil {
		t.Fatal(err)
	}
	logs := buf.String()
	var line string
	for _, ln := range strings.Split(logs, "\n") {
		if strings.Contains(ln, "guest link redeemed") {
			line = ln
		}
	}
	for _, want := range []string{TokenPrefix(l.Token), "!pub:hs", red.UserID, "198.51.100.7"} {
		if !strings.Contains(line, want) {
			t.Errorf("redemption log line %q lacks %q", line, want)
		}
	}
	if strings.Contains(logs, l.Token) {
		t.Fatalf("the whole token was logged: %s", logs)
	}
}
