package guest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"foyer/internal/accounts"
)

// The rename upgrade's order of events in each room, and what it reports;
// tests/integration covers it end to end on both databases.
func TestRenameMovesEachRoomThenDeactivatesTheGuest(t *testing.T) {
	f := newFixture(nil)
	ctx := context.Background()
	creds, err := f.svc.Register(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	g := creds.UserID
	f.store.users[g].displayName = "Vera"
	room := func(rule string) *fakeRoom {
		return &fakeRoom{facts: RoomFacts{GuestsCanJoin: true, JoinRule: rule},
			members: map[string]string{"@alice:hs": "join"}, inviters: map[string]bool{"@alice:hs": true}}
	}
	f.rooms.rooms["!mute:hs"] = room("invite")    // the guest may not invite here
	f.rooms.rooms["!invited:hs"] = room("invite") // the guest is only invited
	f.rooms.rooms["!knock:hs"] = room("knock")
	f.rooms.rooms["!priv:hs"].inviters[g] = true
	f.rooms.rooms["!invited:hs"].inviters[g] = true
	for _, id := range []string{"!pub:hs", "!priv:hs", "!mute:hs"} {
		f.rooms.rooms[id].members[g] = "join"
	}
	f.rooms.rooms["!invited:hs"].members[g] = "invite"
	f.rooms.rooms["!knock:hs"].members[g] = "knock"
	f.rooms.log = nil

	res, err := f.svc.Rename(ctx, RenameRequest{
		Guest:   accounts.Session{UserID: g, Kind: accounts.KindGuest},
		Account: accounts.RegisterRequest{Username: "vera"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.UserID != "@vera:hs" || res.PreviousUserID != g {
		t.Fatalf("result: %+v", res)
	}
	if f.store.users["@vera:hs"].displayName != "Vera" || f.store.users["@vera:hs"].kind != "named_guest" {
		t.Errorf("new account: %+v", f.store.users["@vera:hs"])
	}
	if want := []string{"!priv:hs", "!pub:hs"}; !slices.Equal(res.Moved, want) {
		t.Errorf("moved %v, want %v", res.Moved, want)
	}
	var notMoved []string
	for _, n := range res.NotMoved {
		notMoved = append(notMoved, n.RoomID+" "+n.Membership)
		if n.Err == nil {
			t.Errorf("%s: no reason", n.RoomID)
		}
	}
	if want := []string{"!invited:hs invite", "!knock:hs knock", "!mute:hs join"}; !slices.Equal(notMoved, want) {
		t.Errorf("not moved %v, want %v", notMoved, want)
	}
	if n := res.NotMoved[1]; !errors.Is(n.Err, ErrNotCarriedOver) {
		t.Errorf("knock: %v", n.Err)
	}
	// Public: join at once. Otherwise the guest invites, the new account
	// joins, then the guest leaves.
	log := strings.Join(f.rooms.log, "\n")
	for _, want := range []string{
		"join !pub:hs @vera:hs\nleave !pub:hs " + g,
		"invite !priv:hs @vera:hs\njoin !priv:hs @vera:hs\nleave !priv:hs " + g,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("room log lacks\n%s\nin\n%s", want, log)
		}
	}
	for id, r := range f.rooms.rooms {
		if m := r.members[g]; m != "" && m != "leave" {
			t.Errorf("the guest is still %s in %s", m, id)
		}
	}
	if u := f.store.users[g]; !u.deactivated || u.devices != 0 {
		t.Errorf("the guest was not deactivated: %+v", u)
	}
	// A second rename of the same guest is refused.
	if _, err := f.svc.Rename(ctx, RenameRequest{
		Guest:   accounts.Session{UserID: g, Kind: accounts.KindGuest},
		Account: accounts.RegisterRequest{Username: "vera2"},
	}); !errors.Is(err, ErrNotGuest) {
		t.Errorf("second rename: %v", err)
	}
	if f.store.users["@vera2:hs"] != nil {
		t.Error("the refused rename created an account")
	}
}

// A failed registration changes nothing.
func TestRenameWithATakenNameChangesNothing(t *testing.T) {
	f := newFixture(nil)
	ctx := context.Background()
	creds, _ := f.svc.Register(ctx, "")
	f.rooms.rooms["!pub:hs"].members[creds.UserID] = "join"
	f.store.users["@taken:hs"] = &fakeUser{kind: "user"}
	f.rooms.log = nil
	_, err := f.svc.Rename(ctx, RenameRequest{
		Guest:   accounts.Session{UserID: creds.UserID, Kind: accounts.KindGuest},
		Account: accounts.RegisterRequest{Username: "taken"},
	})
	if !errors.Is(err, accounts.ErrUserInUse) {
		t.Fatalf("err = %v", err)
	}
	if len(f.rooms.log) != 0 || f.store.users[creds.UserID].deactivated {
		t.Errorf("a failed rename changed things: %v", f.rooms.log)
	}
}
