package retry

import (
	"context"
	"testing"
	"time"
)

func TestBackoffDoublesToMax(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 5 * time.Second}
	var got []time.Duration
	for d := time.Duration(0); len(got) < 5; {
		d = b.Next(d)
		got = append(got, d)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
}

func TestWaitEndsEarlyOrWithContext(t *testing.T) {
	early := make(chan struct{}, 1)
	Signal(early)
	Signal(early) // a second wake-up does not block
	start := time.Now()
	if !Wait(context.Background(), time.Minute, early) || time.Since(start) > time.Second {
		t.Fatal("a signalled wait did not end early")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Wait(ctx, time.Minute, nil) {
		t.Fatal("a wait whose context ended reported true")
	}
	if !Wait(context.Background(), time.Millisecond, nil) {
		t.Fatal("a plain wait reported false")
	}
}
