package storage

import (
	"context"
	"testing"
	"time"
)

// A lease goes to the first taker, is renewed by its holder, refused to
// others until it expires, then taken over; a release frees it at once.
// Heartbeats list the live processes.
func TestClusterLeasesAndHeartbeats(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		s := NewClusterStore(db)
		t0 := time.UnixMilli(1_000_000)
		ttl := 10 * time.Second

		if l, err := s.Lease(ctx, "writer"); err != nil || l.Holder != "" {
			t.Fatalf("lease before anyone took it: %+v %v", l, err)
		}
		l, err := s.TakeLease(ctx, "writer", "a", t0, t0.Add(ttl))
		if err != nil || l.Holder != "a" || !l.Expires.Equal(t0.Add(ttl)) {
			t.Fatalf("first take: %+v %v", l, err)
		}
		if l, _ := s.TakeLease(ctx, "writer", "b", t0.Add(time.Second), t0.Add(time.Second+ttl)); l.Holder != "a" {
			t.Fatalf("b took a's live lease: %+v", l)
		}
		if l, _ := s.TakeLease(ctx, "writer", "a", t0.Add(5*time.Second), t0.Add(5*time.Second+ttl)); l.Holder != "a" || !l.Expires.Equal(t0.Add(5*time.Second+ttl)) {
			t.Fatalf("a's renewal: %+v", l)
		}
		if l, _ := s.TakeLease(ctx, "writer", "b", t0.Add(14*time.Second), t0.Add(24*time.Second)); l.Holder != "a" {
			t.Fatalf("b took the renewed lease before it expired: %+v", l)
		}
		if l, _ := s.TakeLease(ctx, "writer", "b", t0.Add(16*time.Second), t0.Add(26*time.Second)); l.Holder != "b" {
			t.Fatalf("b could not take the expired lease: %+v", l)
		}
		if err := s.ReleaseLease(ctx, "writer", "a"); err != nil {
			t.Fatal(err)
		}
		if l, _ := s.Lease(ctx, "writer"); l.Holder != "b" {
			t.Fatalf("a's release of b's lease freed it: %+v", l)
		}
		if err := s.ReleaseLease(ctx, "writer", "b"); err != nil {
			t.Fatal(err)
		}
		if l, _ := s.TakeLease(ctx, "writer", "c", t0.Add(17*time.Second), t0.Add(27*time.Second)); l.Holder != "c" {
			t.Fatalf("c could not take the released lease: %+v", l)
		}

		for i, id := range []string{"a", "b"} {
			p := ClusterProcess{InstanceID: id, Hostname: "h" + id, PID: int64(100 + i), Addresses: []string{"127.0.0.1:1", "[::1]:2"},
				ClusterAddress: "10.0.0." + id + ":7000", Started: t0.Add(time.Duration(i) * time.Second), Heartbeat: t0.Add(time.Duration(10*i) * time.Second)}
			if err := s.Heartbeat(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		procs, err := s.Processes(ctx, t0.Add(5*time.Second))
		if err != nil || len(procs) != 1 || procs[0].InstanceID != "b" || procs[0].PID != 101 || len(procs[0].Addresses) != 2 {
			t.Fatalf("live processes: %+v %v", procs, err)
		}
		if p, ok, err := s.Process(ctx, "a"); err != nil || !ok || p.Hostname != "ha" || p.ClusterAddress != "10.0.0.a:7000" || !p.Heartbeat.Equal(t0) {
			t.Fatalf("process a: %+v %v %v", p, ok, err)
		}
		if err := s.ForgetProcess(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		if procs, _ := s.Processes(ctx, t0); len(procs) != 1 || procs[0].InstanceID != "a" {
			t.Fatalf("after b left: %+v", procs)
		}
		if _, ok, err := s.Process(ctx, "b"); ok || err != nil {
			t.Fatalf("b after it left: %v %v", ok, err)
		}

		// One key for every process: the first stored wins.
		k1, err := s.ClusterKey(ctx, "first")
		if err != nil || k1 != "first" {
			t.Fatalf("first cluster key: %q %v", k1, err)
		}
		if k2, err := s.ClusterKey(ctx, "second"); err != nil || k2 != "first" {
			t.Fatalf("second process's cluster key: %q %v, want the first", k2, err)
		}
	})
}
