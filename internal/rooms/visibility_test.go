package rooms

import "testing"

// TestCanSee_G26_G27_G28 walks the cases of the spec's history
// visibility module: four settings × the viewer's membership at the event,
// joins after the event, and the before/after special cases.
func TestCanSee_G26_G27_G28(t *testing.T) {
	type tc struct {
		name string
		v    Visibility
		want bool
	}
	plain := func(history, membership string, joinedLater bool) Visibility {
		return Visibility{HistoryBefore: history, HistoryAfter: history, MembershipBefore: membership, MembershipAfter: membership, JoinedLater: joinedLater}
	}
	cases := []tc{
		// world_readable: anyone, member or not, guests included (G-29).
		{"world_readable, never a member", plain("world_readable", "", false), true},
		{"world_readable, left", plain("world_readable", "leave", false), true},
		{"world_readable, banned", plain("world_readable", "ban", false), true},
		// shared: members, and anyone who joined after the event.
		{"shared, joined at event", plain("shared", "join", false), true},
		{"shared, joined later", plain("shared", "", true), true},
		{"shared, invited at event, joined later", plain("shared", "invite", true), true},
		{"shared, never joined", plain("shared", "", false), false},
		{"shared, invited only", plain("shared", "invite", false), false},
		{"shared, left before event, never back", plain("shared", "leave", false), false},
		{"shared, left before event, rejoined", plain("shared", "leave", true), true},
		// invited: from the invite onwards.
		{"invited, invited at event", plain("invited", "invite", false), true},
		{"invited, joined at event", plain("invited", "join", false), true},
		{"invited, joined later only", plain("invited", "", true), false},
		{"invited, left at event", plain("invited", "leave", false), false},
		// joined: only while joined.
		{"joined, joined at event", plain("joined", "join", false), true},
		{"joined, invited at event", plain("joined", "invite", false), false},
		{"joined, joined later", plain("joined", "", true), false},
		{"joined, knocking", plain("joined", "knock", false), false},
		// G-28: history-visibility events visible if before or after allows.
		{"hv event joined→world_readable, non-member", Visibility{HistoryBefore: "joined", HistoryAfter: "world_readable"}, true},
		{"hv event world_readable→joined, non-member", Visibility{HistoryBefore: "world_readable", HistoryAfter: "joined"}, true},
		{"hv event joined→shared, non-member", Visibility{HistoryBefore: "joined", HistoryAfter: "shared"}, false},
		// G-28: own member events visible if membership before or after allows.
		{"own join under joined", Visibility{HistoryBefore: "joined", HistoryAfter: "joined", MembershipBefore: "", MembershipAfter: "join"}, true},
		{"own leave under joined", Visibility{HistoryBefore: "joined", HistoryAfter: "joined", MembershipBefore: "join", MembershipAfter: "leave"}, true},
		{"own invite under invited", Visibility{HistoryBefore: "invited", HistoryAfter: "invited", MembershipBefore: "", MembershipAfter: "invite"}, true},
		{"own invite under joined", Visibility{HistoryBefore: "joined", HistoryAfter: "joined", MembershipBefore: "", MembershipAfter: "invite"}, false},
	}
	for _, c := range cases {
		if got := CanSee(c.v); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// G-26: absent or unknown history visibility is shared.
func TestNormaliseHistory_G26(t *testing.T) {
	for in, want := range map[string]string{"": "shared", "bogus": "shared", "joined": "joined", "world_readable": "world_readable"} {
		if got := normaliseHistory(in); got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}

func TestViewerHistory(t *testing.T) {
	vh := viewerHistory{userID: "@u:hs", changes: []MembershipChange{{10, "invite"}, {20, "join"}, {30, "leave"}}}
	if vh.membershipBefore(10) != "" || vh.membershipBefore(15) != "invite" || vh.membershipBefore(25) != "join" || vh.membershipBefore(40) != "leave" {
		t.Fatal("membershipBefore wrong")
	}
	if !vh.joinedAfter(15) || vh.joinedAfter(20) || vh.joinedAfter(35) {
		t.Fatal("joinedAfter wrong")
	}
}
