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

// renameCutShort starts a rename of a fresh guest joined to three rooms
// and stops it, as a crash would, once it has moved one room.
func renameCutShort(t *testing.T, f *fixture) (guestID string) {
	t.Helper()
	ctx := context.Background()
	creds, err := f.svc.Register(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	g := creds.UserID
	f.rooms.rooms["!pub2:hs"] = &fakeRoom{facts: RoomFacts{GuestsCanJoin: true, JoinRule: "public"},
		members: map[string]string{"@alice:hs": "join"}, inviters: map[string]bool{"@alice:hs": true}}
	f.rooms.rooms["!priv:hs"].inviters[g] = true
	for _, id := range []string{"!pub:hs", "!pub2:hs", "!priv:hs"} {
		f.rooms.rooms[id].members[g] = "join"
	}
	type crash struct{}
	f.svc.AfterRenamedRoom(func(moved int) {
		if moved == 1 {
			panic(crash{})
		}
	})
	func() {
		defer func() {
			if r := recover(); r != (crash{}) {
				t.Fatalf("the rename was not cut short: %v", r)
			}
		}()
		_, _ = f.svc.Rename(ctx, RenameRequest{
			Guest:   accounts.Session{UserID: g, Kind: accounts.KindGuest},
			Account: accounts.RegisterRequest{Username: "vera"},
		})
	}()
	f.svc.AfterRenamedRoom(nil)
	if r := f.store.renames[g]; r.State != RenameMoving || r.NewUserID != "@vera:hs" {
		t.Fatalf("recorded rename: %+v", r)
	}
	if joined, _ := f.rooms.JoinedRooms(ctx, g); len(joined) != 2 {
		t.Fatalf("after the crash the guest is in %v", joined)
	}
	return g
}

func TestRenameCutShortIsFinishedAtStartThenOnRetry(t *testing.T) {
	f := newFixture(nil)
	ctx := context.Background()
	g := renameCutShort(t, f)
	session := accounts.Session{UserID: g, Kind: accounts.KindGuest}

	// Another name cannot take over.
	var conflict *RenameConflictError
	if _, err := f.svc.Rename(ctx, RenameRequest{Guest: session, Account: accounts.RegisterRequest{Username: "other"}}); !errors.As(err, &conflict) {
		t.Fatalf("a rename to another name: %v", err)
	}
	if ok, _ := f.svc.ContinuesRename(ctx, g, "Vera"); !ok {
		t.Error("ContinuesRename: the same name does not continue the rename")
	}

	// At start: the rooms move and the guest leaves them, but stays.
	f.svc.runRenameRecovery(ctx)
	if r := f.store.renames[g]; r.State != RenameMoved {
		t.Fatalf("after recovery: %+v", r)
	}
	if joined, _ := f.rooms.JoinedRooms(ctx, g); len(joined) != 0 {
		t.Errorf("after recovery the guest is in %v", joined)
	}
	if joined, _ := f.rooms.JoinedRooms(ctx, "@vera:hs"); len(joined) != 3 {
		t.Errorf("after recovery the new account is in %v", joined)
	}
	if f.store.users[g].deactivated {
		t.Error("recovery deactivated the guest before its client had the new account")
	}

	// The repeated request hands the new account over and ends the guest.
	res, err := f.svc.Rename(ctx, RenameRequest{Guest: session, Account: accounts.RegisterRequest{Username: "vera"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.UserID != "@vera:hs" || res.AccessToken != "login1" || res.DeviceID != "NEWDEV" {
		t.Fatalf("retry: %+v", res)
	}
	if want := []string{"!priv:hs", "!pub2:hs", "!pub:hs"}; !slices.Equal(res.Moved, want) {
		t.Errorf("moved %v, want %v", res.Moved, want)
	}
	if !f.store.users[g].deactivated || f.store.renames[g].State != RenameDone {
		t.Errorf("after the retry: guest %+v, rename %+v", f.store.users[g], f.store.renames[g])
	}
}

func TestRenameCutShortIsFinishedByRetry(t *testing.T) {
	f := newFixture(nil)
	ctx := context.Background()
	g := renameCutShort(t, f)
	res, err := f.svc.Rename(ctx, RenameRequest{
		Guest:   accounts.Session{UserID: g, Kind: accounts.KindGuest},
		Account: accounts.RegisterRequest{Username: "vera"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"!priv:hs", "!pub2:hs", "!pub:hs"}; !res.Resumed || !slices.Equal(res.Moved, want) || res.AccessToken == "" {
		t.Fatalf("retry: %+v", res)
	}
	if joined, _ := f.rooms.JoinedRooms(ctx, "@vera:hs"); len(joined) != 3 {
		t.Errorf("the new account is in %v", joined)
	}
	if joined, _ := f.rooms.JoinedRooms(ctx, g); len(joined) != 0 || !f.store.users[g].deactivated {
		t.Errorf("the guest is in %v, deactivated %v", joined, f.store.users[g].deactivated)
	}
}
