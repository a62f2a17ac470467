package guest

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"foyer/internal/config"
)

func TestExpireOnlyIdleGuestsThenLeaveTheirRooms(t *testing.T) {
	f := newFixture(nil)
	ctx := context.Background()
	now := time.Now()
	old := now.Add(-31 * 24 * time.Hour).UnixMilli()
	f.store.users["@1:hs"] = &fakeUser{kind: "guest", lastSeen: old, devices: 1}
	f.store.users["@2:hs"] = &fakeUser{kind: "guest", lastSeen: now.UnixMilli(), devices: 1}
	f.store.users["@named:hs"] = &fakeUser{kind: "named_guest", lastSeen: old}
	f.store.users["@upgraded:hs"] = &fakeUser{kind: "user", lastSeen: old}
	f.rooms.rooms["!pub:hs"].members["@1:hs"] = "join"
	f.rooms.rooms["!priv:hs"].members["@1:hs"] = "invite"
	f.rooms.rooms["!lobby:hs"].members["@1:hs"] = "leave"
	var hooked int
	f.svc.OnExpired(func(n int) { hooked += n })

	n, err := f.svc.Expire(ctx)
	if err != nil || n != 1 || hooked != 1 {
		t.Fatalf("Expire: %d %v (hook %d)", n, err, hooked)
	}
	if u := f.store.users["@1:hs"]; !u.deactivated || u.devices != 0 {
		t.Fatalf("expired guest: %+v", u)
	}
	for _, id := range []string{"@2:hs", "@named:hs", "@upgraded:hs"} {
		if f.store.users[id].deactivated {
			t.Errorf("%s expired", id)
		}
	}
	// Expire alone writes nothing to rooms (it is what the subcommand
	// runs beside a server); LeavePending does, each guest as itself.
	if len(f.rooms.log) != 0 {
		t.Fatalf("Expire wrote to rooms: %v", f.rooms.log)
	}
	if err := f.svc.LeavePending(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"leave !priv:hs @1:hs", "leave !pub:hs @1:hs"}
	if !slices.Equal(f.rooms.log, want) {
		t.Fatalf("room writes %q, want %q", f.rooms.log, want)
	}
	if len(f.store.pending) != 0 {
		t.Fatalf("queue not emptied: %v", f.store.pending)
	}
	// A second run finds nothing.
	if n, err := f.svc.RunExpiry(ctx); n != 0 || err != nil {
		t.Fatalf("second run: %d %v", n, err)
	}
	// expire_after 0 keeps guests for ever.
	f.svc.opts.Access.ExpireAfter = 0
	f.store.users["@3:hs"] = &fakeUser{kind: "guest", lastSeen: 1}
	if n, _ := f.svc.Expire(ctx); n != 0 {
		t.Fatal("expired with expiry off")
	}
}

func TestDeactivateGuestOnlyForGuests(t *testing.T) {
	f := newFixture(nil)
	ctx := context.Background()
	creds, _ := f.svc.Register(ctx, "")
	f.rooms.rooms["!pub:hs"].members[creds.UserID] = "join"
	f.store.users["@named:hs"] = &fakeUser{kind: "named_guest"}
	if err := f.svc.DeactivateGuest(ctx, "@named:hs"); !errors.Is(err, ErrNotGuest) {
		t.Fatalf("named guest: %v", err)
	}
	if err := f.svc.DeactivateGuest(ctx, creds.UserID); err != nil {
		t.Fatal(err)
	}
	if f.rooms.rooms["!pub:hs"].members[creds.UserID] != "leave" || !f.store.users[creds.UserID].deactivated {
		t.Fatal("guest not removed")
	}
	if err := f.svc.DeactivateGuest(ctx, creds.UserID); !errors.Is(err, ErrNotGuest) {
		t.Fatalf("twice: %v", err)
	}
}

func TestExpireJobLifecycle(t *testing.T) {
	var runs atomic.Int64
	j := NewJob(time.Hour, func(ctx context.Context) { runs.Add(1) })
	j.Stop() // without Start
	j.Start()
	j.Start() // a second Start does nothing
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	j.Stop()
	j.Stop()
	if runs.Load() != 1 {
		t.Fatalf("runs: %d, want 1 (at start only)", runs.Load())
	}
	// A run in progress is cancelled by Stop.
	started := make(chan struct{})
	blocked := NewJob(time.Hour, func(ctx context.Context) {
		close(started)
		<-ctx.Done()
	})
	blocked.Start()
	<-started
	done := make(chan struct{})
	go func() { blocked.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not cancel the run")
	}
	// The service's Stop is safe without Start, too.
	newFixture(nil).svc.Stop()
	var nilJob *Job
	nilJob.Stop()
}

func TestThrottles(t *testing.T) {
	f := newFixture(func(o *Options) {
		o.Events = config.Rate{PerSecond: 0.001, Burst: 2}
		o.StateEvents = config.Rate{PerSecond: 0.001, Burst: 1}
		o.LinkRedemption = config.Rate{PerSecond: 0.001, Burst: 1}
		o.Access.MaxRooms = 1
		o.Access.ForbidPublicRooms = true
	})
	ctx := context.Background()
	var lim *LimitError
	for i := range 2 {
		if err := f.svc.AllowSend("@g:hs", false); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if err := f.svc.AllowSend("@g:hs", false); !errors.As(err, &lim) || lim.RetryAfter <= 0 {
		t.Fatalf("third event: %v", err)
	}
	if err := f.svc.AllowSend("@g:hs", true); err != nil {
		t.Fatalf("state has its own budget: %v", err)
	}
	if err := f.svc.AllowSend("@g:hs", true); !errors.As(err, &lim) {
		t.Fatalf("second state event: %v", err)
	}
	if err := f.svc.AllowSend("@other:hs", false); err != nil {
		t.Fatalf("budgets are per guest: %v", err)
	}
	if err := f.svc.AllowRedeem("ip"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.AllowRedeem("ip"); !errors.As(err, &lim) {
		t.Fatalf("second redemption: %v", err)
	}

	// Public-room policy: only rooms in the directory.
	f.rooms.rooms["!pub:hs"].facts.IsPublic = true
	if err := f.svc.CheckJoin(ctx, "@g:hs", "!pub:hs"); !errors.Is(err, ErrPublicRoom) {
		t.Fatalf("public room: %v", err)
	}
	if err := f.svc.CheckJoin(ctx, "@g:hs", "!lobby:hs"); err != nil {
		t.Fatalf("unpublished room: %v", err)
	}
	// Room cap: one room; rejoining it is fine, a second is not.
	f.rooms.rooms["!lobby:hs"].members["@g:hs"] = "join"
	if err := f.svc.CheckJoin(ctx, "@g:hs", "!lobby:hs"); err != nil {
		t.Fatalf("rejoin: %v", err)
	}
	if err := f.svc.CheckJoin(ctx, "@g:hs", "!priv:hs"); !errors.As(err, &lim) {
		t.Fatalf("second room: %v", err)
	}
	// Unknown rooms are the room service's business.
	if err := f.svc.CheckJoin(ctx, "@g:hs", "!nowhere:hs"); err != nil {
		t.Fatalf("unknown room: %v", err)
	}
}
