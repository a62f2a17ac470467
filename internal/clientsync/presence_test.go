package clientsync

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	"foyer/internal/presence"
)

// mostRecentlyActive keeps the caller and the most recently active, as
// sorting every status by recency and cutting would, ties included.
func TestMostRecentlyActive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		n, limit := 1+rng.IntN(60), 1+rng.IntN(20)
		var statuses []presence.Status
		for i := range n {
			statuses = append(statuses, presence.Status{UserID: string(rune('a'+i%26)) + string(rune('0'+i/26)), LastActiveTS: int64(rng.IntN(10))})
		}
		caller := ""
		if rng.IntN(2) == 0 {
			caller = statuses[rng.IntN(n)].UserID
		}
		if len(statuses) <= limit {
			continue
		}
		byRecency := slices.Clone(statuses)
		slices.SortStableFunc(byRecency, func(a, b presence.Status) int {
			if (a.UserID == caller) != (b.UserID == caller) {
				if a.UserID == caller {
					return -1
				}
				return 1
			}
			return cmp.Compare(b.LastActiveTS, a.LastActiveTS)
		})
		got := mostRecentlyActive(slices.Clone(statuses), caller, limit)
		if len(got) != limit {
			t.Fatalf("round %d: kept %d, want %d", round, len(got), limit)
		}
		// The same multiset of timestamps, the caller kept.
		want := byRecency[:limit]
		ts := func(sts []presence.Status) []int64 {
			var out []int64
			for _, st := range sts {
				out = append(out, st.LastActiveTS)
			}
			slices.Sort(out)
			return out
		}
		if !slices.Equal(ts(got), ts(want)) {
			t.Fatalf("round %d: kept timestamps %v, want %v", round, ts(got), ts(want))
		}
		if caller != "" && !slices.ContainsFunc(got, func(st presence.Status) bool { return st.UserID == caller }) {
			t.Fatalf("round %d: the caller was dropped", round)
		}
	}
}
