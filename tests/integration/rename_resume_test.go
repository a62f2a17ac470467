package integration

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// A rename upgrade cut short is finished, not left half moved: at the
// next start the rooms move (the guest stays, for its client to collect
// the new account), and the guest's repeat of the same request finishes
// it instead of answering M_USER_IN_USE.

const renameRooms = 5

// procRegisterRename is registerRename against a process. The second
// request's transport error is returned, not failed on: the process may
// stop under it.
func procRegisterRename(t *testing.T, p *foyerProc, body map[string]any) (*testharness.Response, error) {
	t.Helper()
	first := p.must("POST", cs+"/register", "", body)
	expect(t, first, 401, "")
	withAuth := map[string]any{"auth": map[string]any{"type": "m.login.dummy", "session": first.Str("session")}}
	for k, v := range body {
		withAuth[k] = v
	}
	return p.do("POST", cs+"/register", "", withAuth)
}

func procMembership(t *testing.T, p *foyerProc, token, roomID, userID string) string {
	t.Helper()
	r := p.must("GET", roomPath(roomID, "/state/m.room.member/"+testharness.PathEscape(userID)), token, nil)
	if r.Status == 404 {
		return ""
	}
	return r.Str("membership")
}

func TestRenameUpgradeResumesAfterCrash(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		t.Run("restart", func(t *testing.T) { renameCrashThenRestart(t, backend) })
		t.Run("retry", func(t *testing.T) { renameCutShortThenRetry(t, backend) })
	})
}

// renameCrashThenRestart: the process exits after the rename moved two of
// five rooms; the next start moves the rest; the guest's repeat hands the
// new account over.
func renameCrashThenRestart(t *testing.T, backend string) {
	args := append(storageArgs(t, backend), "--listen", "127.0.0.1:0", "--registration", "open")
	p := startFoyerProc(t, args, foyerEnv("FOYER_TEST_CRASH_AFTER_RENAME_ROOMS=2"))
	alice := p.must("POST", cs+"/register", "", map[string]any{"username": "alice", "password": "alice-pw", "auth": map[string]any{"type": "m.login.dummy"}})
	expect(t, alice, 200, "")
	aliceToken := alice.Str("access_token")
	g := p.must("POST", cs+"/register?kind=guest", "", map[string]any{})
	expect(t, g, 200, "")
	guestID, guestToken := g.Str("user_id"), g.Str("access_token")
	var rooms []string
	for range renameRooms {
		r := p.must("POST", cs+"/createRoom", aliceToken, map[string]any{"preset": "public_chat",
			"initial_state": []any{map[string]any{"type": "m.room.guest_access", "state_key": "", "content": map[string]any{"guest_access": "can_join"}}}})
		expect(t, r, 200, "")
		rooms = append(rooms, r.Str("room_id"))
		expect(t, p.must("POST", roomPath(r.Str("room_id"), "/join"), guestToken, map[string]any{}), 200, "")
	}
	slices.Sort(rooms)

	body := map[string]any{"username": "vera", "guest_access_token": guestToken}
	if r, err := procRegisterRename(t, p, body); err == nil {
		t.Fatalf("the rename was answered although the process should have stopped half-way: %s", r)
	}
	if st, ok := p.wait(10 * time.Second); !ok || st.ExitCode() != 86 {
		t.Fatalf("the process did not stop at the hook: %v", st)
	}
	db := openProcDB(t, backend, args)
	defer db.Close()
	renameState := func() string {
		var s string
		if err := db.QueryRow(`SELECT state FROM guest_renames WHERE guest_user_id = $1`, guestID).Scan(&s); err != nil {
			t.Fatalf("reading the rename: %v", err)
		}
		return s
	}
	if s := renameState(); s != "moving" {
		t.Fatalf("after the crash the rename is %q", s)
	}

	p = startFoyerProc(t, args, foyerEnv())
	deadline := time.Now().Add(20 * time.Second)
	for renameState() != "moved" {
		if time.Now().After(deadline) {
			t.Fatalf("the rename was not finished at start: %q", renameState())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, room := range rooms {
		if m := procMembership(t, p, aliceToken, room, "@vera:localhost"); m != "join" {
			t.Errorf("%s: the new account is %q", room, m)
		}
		if m := procMembership(t, p, aliceToken, room, guestID); m != "leave" {
			t.Errorf("%s: the guest is %q", room, m)
		}
	}
	// The guest is still there for its client, which repeats the request.
	if who := p.must("GET", cs+"/account/whoami", guestToken, nil); who.Status != 200 || who.JSON["is_guest"] != true {
		t.Fatalf("the guest after the restart: %s", who)
	}
	r, err := procRegisterRename(t, p, body)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, r, 200, "")
	if r.Str("user_id") != "@vera:localhost" || r.Str("previous_user_id") != guestID || r.Str("access_token") == "" {
		t.Fatalf("the repeated rename: %s", r)
	}
	if got := strList(r.JSON["rooms_moved"]); !slices.Equal(got, rooms) {
		t.Errorf("rooms_moved %v, want %v", got, rooms)
	}
	if who := p.must("GET", cs+"/account/whoami", r.Str("access_token"), nil); who.Str("user_id") != "@vera:localhost" {
		t.Errorf("the new account's token: %s", who)
	}
	if jr := p.must("GET", cs+"/joined_rooms", r.Str("access_token"), nil); !slices.Equal(strList(jr.JSON["joined_rooms"]), rooms) {
		t.Errorf("joined_rooms: %s", jr)
	}
	expect(t, p.must("GET", cs+"/account/whoami", guestToken, nil), 401, "M_UNKNOWN_TOKEN")
	if s := renameState(); s != "done" {
		t.Errorf("the rename is %q", s)
	}
}

// renameCutShortThenRetry: the request stops after two rooms (a panic in
// the handler, as a failure half-way would); the guest's repeat of it
// moves the rest and hands the new account over.
func renameCutShortThenRetry(t *testing.T, backend string) {
	hs := testharness.StartBackend(t, backend)
	alice := hs.RegisterUser(t, "alice")
	g := hs.RegisterGuest(t)
	var rooms []string
	for range renameRooms {
		room := gmGuestRoom(t, hs, alice.Token, false, nil)
		mustJoin(t, hs, g.Token, room)
		rooms = append(rooms, room)
	}
	slices.Sort(rooms)
	hs.Server.Services.Guests.AfterRenamedRoom(func(moved int) {
		if moved == 2 {
			panic("the rename stops here")
		}
	})
	body := map[string]any{"username": "vera", "guest_access_token": g.Token}
	expect(t, registerRename(t, hs, body), 500, "M_UNKNOWN")
	hs.Server.Services.Guests.AfterRenamedRoom(nil)
	joined := 0
	for _, room := range rooms {
		if gmMembership(t, hs, alice.Token, room, "@vera:localhost") == "join" {
			joined++
		}
	}
	if joined != 2 {
		t.Fatalf("the cut-short rename moved %d rooms", joined)
	}

	r := registerRename(t, hs, body)
	expect(t, r, 200, "")
	if got := strList(r.JSON["rooms_moved"]); !slices.Equal(got, rooms) || r.Str("user_id") != "@vera:localhost" {
		t.Fatalf("the repeated rename: %s", r)
	}
	for _, room := range rooms {
		if m := gmMembership(t, hs, alice.Token, room, g.UserID); m != "leave" {
			t.Errorf("%s: the guest is %q", room, m)
		}
	}
	expect(t, hs.Do(t, "GET", cs+"/account/whoami", g.Token, nil), 401, "M_UNKNOWN_TOKEN")
	expect(t, hs.Do(t, "GET", cs+"/account/whoami", r.Str("access_token"), nil), 200, "")
	// Once finished, the name is taken like any other.
	expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "vera", "password": "pw"}), 400, "M_USER_IN_USE")
}

// A rename and an in-place upgrade of the same guest at once: exactly
// one wins, the other is refused 403 M_FORBIDDEN, and the guest ends as
// the winner left it.
func TestRenameAndUpgradeRace(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := gmGuestRoom(t, hs, alice.Token, false, nil)
		wins := map[string]int{}
		for trial := range 10 {
			g := hs.RegisterGuest(t)
			mustJoin(t, hs, g.Token, room)
			lp := strings.TrimSuffix(strings.TrimPrefix(g.UserID, "@"), ":localhost")
			newName := fmt.Sprintf("renamed%d", trial)
			bodies := []map[string]any{
				{"username": lp, "password": "pw", "guest_access_token": g.Token},
				{"username": newName, "guest_access_token": g.Token},
			}
			// UIA first, so the two final requests go together.
			for _, b := range bodies {
				first := hs.Do(t, "POST", cs+"/register", "", b)
				expect(t, first, 401, "")
				b["auth"] = map[string]any{"type": "m.login.dummy", "session": first.Str("session")}
			}
			results := make([]*testharness.Response, 2)
			errs := make([]error, 2)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, b := range bodies {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i], errs[i] = hs.DoErr("POST", cs+"/register", "", b)
				}()
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, r := range results {
				if errs[i] != nil {
					t.Fatalf("trial %d: %v", trial, errs[i])
				}
				switch {
				case r.Status == 200 && winner == -1:
					winner = i
				case r.Status == 403 && r.Errcode() == "M_FORBIDDEN":
				default:
					t.Fatalf("trial %d: upgrade %s; rename %s", trial, results[0], results[1])
				}
			}
			if winner == -1 {
				t.Fatalf("trial %d: neither won: upgrade %s; rename %s", trial, results[0], results[1])
			}
			newID := "@" + newName + ":localhost"
			renamed := gmCount(t, hs, `SELECT COUNT(*) FROM users WHERE user_id = $1`, newID)
			kind := ""
			if err := hs.Server.DB.Read.QueryRow(`SELECT kind FROM users WHERE user_id = $1`, g.UserID).Scan(&kind); err != nil {
				t.Fatal(err)
			}
			if winner == 0 {
				wins["upgrade"]++
				if renamed != 0 || kind != "user" || gmMembership(t, hs, alice.Token, room, g.UserID) != "join" {
					t.Fatalf("trial %d: the upgrade won, but %s exists (%d) or the guest is %q", trial, newID, renamed, kind)
				}
			} else {
				wins["rename"]++
				if renamed != 1 || kind != "guest" || gmMembership(t, hs, alice.Token, room, newID) != "join" {
					t.Fatalf("trial %d: the rename won, but %s exists %d, the guest is %q", trial, newID, renamed, kind)
				}
				expect(t, hs.Do(t, "GET", cs+"/account/whoami", g.Token, nil), 401, "M_UNKNOWN_TOKEN")
			}
		}
		t.Logf("winners: %v", wins)
	})
}
