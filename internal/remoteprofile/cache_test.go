package remoteprofile

import (
	"context"
	"errors"
	"testing"
	"time"

	"foyer/internal/federationclient"
)

type countingSource struct {
	calls map[string]int
	err   map[string]error
}

func (s *countingSource) QueryProfile(_ context.Context, destination, userID string) (federationclient.Profile, error) {
	s.calls[userID]++
	if err := s.err[userID]; err != nil {
		return federationclient.Profile{}, err
	}
	return federationclient.Profile{DisplayName: userID + "@" + destination}, nil
}

// Profiles and remote 404s are kept for the TTL, other failures not at
// all; the cache never holds more than MaxEntries users.
func TestCacheKeepsAnswersBrieflyWithinItsBound(t *testing.T) {
	src := &countingSource{calls: map[string]int{}, err: map[string]error{
		"@gone:b.test": &federationclient.Error{Destination: "b.test", Status: 404, Code: "M_NOT_FOUND"},
		"@down:c.test": errors.New("connection refused"),
	}}
	c := New(src, Options{TTL: time.Minute, MaxEntries: 2})
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	for range 2 {
		if p, err := c.Profile(ctx, "@al:b.test"); err != nil || p.DisplayName != "@al:b.test@b.test" {
			t.Fatalf("profile %+v, %v", p, err)
		}
		if _, err := c.Profile(ctx, "@gone:b.test"); err == nil {
			t.Fatal("a remote 404 gave a profile")
		}
		if _, err := c.Profile(ctx, "@down:c.test"); err == nil {
			t.Fatal("an unreachable server gave a profile")
		}
	}
	if src.calls["@al:b.test"] != 1 || src.calls["@gone:b.test"] != 1 || src.calls["@down:c.test"] != 2 {
		t.Fatalf("calls %v: answers and 404s are asked once, failures each time", src.calls)
	}
	now = now.Add(2 * time.Minute)
	c.Profile(ctx, "@al:b.test")
	if src.calls["@al:b.test"] != 2 {
		t.Fatalf("an expired answer was not asked again: %v", src.calls)
	}
	c.Profile(ctx, "@x:b.test")
	c.Profile(ctx, "@y:b.test")
	if n := len(c.entries); n > 2 {
		t.Fatalf("%d entries, bound 2", n)
	}
}
