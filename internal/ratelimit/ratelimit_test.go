package ratelimit

import (
	"testing"
	"time"
)

func TestBurstThenRefusalWithRetryAfter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(1, 3)
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("1.2.3.4"); !ok {
			t.Fatalf("request %d within burst refused", i)
		}
	}
	ok, retry := l.Allow("1.2.3.4")
	if ok || retry <= 0 || retry > time.Second {
		t.Fatalf("fourth request: ok=%v retry=%v, want refused with retry in (0,1s]", ok, retry)
	}
	if ok, _ := l.Allow("5.6.7.8"); !ok {
		t.Fatal("another key shares the bucket")
	}
	now = now.Add(time.Second)
	if ok, _ := l.Allow("1.2.3.4"); !ok {
		t.Fatal("token not refilled after a second")
	}
}

func TestDisabledLimiterAllowsEverything(t *testing.T) {
	l := New(0, 0)
	for i := 0; i < 1000; i++ {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatal("disabled limiter refused")
		}
	}
}

func TestIdleBucketsAreForgotten(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(1, 2)
	l.now = func() time.Time { return now }
	l.Allow("a")
	now = now.Add(2 * time.Minute)
	l.Allow("b")
	if _, ok := l.buckets["a"]; ok {
		t.Fatal("idle bucket kept")
	}
}
