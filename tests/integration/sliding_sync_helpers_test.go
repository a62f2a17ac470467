package integration

import (
	"encoding/json"
	"net/url"
	"strconv"
	"testing"

	"foyer/internal/testharness"
)

const slidingSyncPath = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"

// ssResp is the part of a sliding sync response tests read.
type ssResp struct {
	Pos   string `json:"pos"`
	Lists map[string]struct {
		Count int `json:"count"`
		Ops   []struct {
			Op      string   `json:"op"`
			Range   []int    `json:"range"`
			RoomIDs []string `json:"room_ids"`
		} `json:"ops"`
	} `json:"lists"`
	Rooms      map[string]ssRoom `json:"rooms"`
	Extensions struct {
		ToDevice *struct {
			NextBatch string      `json:"next_batch"`
			Events    []syncEvent `json:"events"`
		} `json:"to_device"`
		E2EE *struct {
			DeviceLists struct {
				Changed []string `json:"changed"`
				Left    []string `json:"left"`
			} `json:"device_lists"`
			OTKCounts       map[string]int `json:"device_one_time_keys_count"`
			UnusedFallbacks []string       `json:"device_unused_fallback_key_types"`
		} `json:"e2ee"`
		AccountData *struct {
			Global []syncEvent            `json:"global"`
			Rooms  map[string][]syncEvent `json:"rooms"`
		} `json:"account_data"`
		Receipts *struct {
			Rooms map[string]syncEvent `json:"rooms"`
		} `json:"receipts"`
		Typing *struct {
			Rooms map[string]syncEvent `json:"rooms"`
		} `json:"typing"`
	} `json:"extensions"`
}

type ssRoom struct {
	Name              string      `json:"name"`
	Avatar            string      `json:"avatar"`
	Initial           bool        `json:"initial"`
	Expanded          bool        `json:"unstable_expanded_timeline"`
	RequiredState     []syncEvent `json:"required_state"`
	Timeline          []syncEvent `json:"timeline"`
	PrevBatch         string      `json:"prev_batch"`
	Limited           *bool       `json:"limited"`
	NumLive           *int        `json:"num_live"`
	BumpStamp         *int64      `json:"bump_stamp"`
	JoinedCount       *int        `json:"joined_count"`
	InvitedCount      *int        `json:"invited_count"`
	NotificationCount int         `json:"notification_count"`
	HighlightCount    int         `json:"highlight_count"`
	IsDM              *bool       `json:"is_dm"`
	InviteState       []syncEvent `json:"invite_state"`
	KnockState        []syncEvent `json:"knock_state"`
	Heroes            []struct {
		UserID      string `json:"user_id"`
		DisplayName string `json:"displayname"`
	} `json:"heroes"`
}

// slidingSync posts body at pos (may be "") with a timeout in ms, and
// returns the decoded answer, failing on anything but 200.
func slidingSync(t testing.TB, hs *testharness.Homeserver, token, pos string, timeoutMS int, body any) ssResp {
	t.Helper()
	r := slidingSyncRaw(t, hs, token, pos, timeoutMS, body)
	if r.Status != 200 {
		t.Fatalf("sliding sync: %s", r)
	}
	var s ssResp
	if err := json.Unmarshal(r.Raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.Pos == "" {
		t.Fatalf("no pos: %s", r)
	}
	return s
}

func slidingSyncRaw(t testing.TB, hs *testharness.Homeserver, token, pos string, timeoutMS int, body any) *testharness.Response {
	t.Helper()
	q := url.Values{}
	if pos != "" {
		q.Set("pos", pos)
	}
	q.Set("timeout", strconv.Itoa(timeoutMS))
	return hs.Do(t, "POST", slidingSyncPath+"?"+q.Encode(), token, body)
}

// listRooms are the room IDs of a list's first range.
func (s ssResp) listRooms(key string) []string {
	l, ok := s.Lists[key]
	if !ok || len(l.Ops) == 0 {
		return nil
	}
	return l.Ops[0].RoomIDs
}

// ssList is a list body.
func ssList(end int, timelineLimit int, requiredState ...[]string) map[string]any {
	if requiredState == nil {
		requiredState = [][]string{}
	}
	return map[string]any{"ranges": [][]int{{0, end}}, "timeline_limit": timelineLimit, "required_state": requiredState}
}

func timelineBodies(events []syncEvent) []string {
	var out []string
	for _, e := range events {
		if e.Type == "m.room.message" {
			b, _ := e.Content["body"].(string)
			out = append(out, b)
		}
	}
	return out
}

// loginAgain signs a in on a new device and returns its token.
func loginAgain(t testing.TB, hs *testharness.Homeserver, a testharness.Account) string {
	t.Helper()
	r := hs.Do(t, "POST", cs+"/login", "", map[string]any{
		"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": a.UserID}, "password": a.Password,
	})
	if r.Status != 200 {
		t.Fatalf("login: %s", r)
	}
	return r.Str("access_token")
}
