package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// pathWildcard finds a route pattern's wildcards ({name}; {$} is not one).
var pathWildcard = regexp.MustCompile(`\{([A-Za-z]+)\}`)

// malformedValues are path and query values that neither database's text
// type takes alike: a NUL byte and a byte that is not UTF-8.
var malformedValues = []string{"%00", "%FF"}

// malformedBodies are JSON bodies with a NUL in a value and a key, and one
// with a byte that is not UTF-8.
var malformedBodies = [][]byte{
	[]byte(`{"msgtype":"m.text","body":"a\u0000b"}`),
	[]byte(`{"\u0000":"x","msgtype":"m.text","body":"b"}`),
	[]byte("{\"msgtype\":\"m.text\",\"body\":\"c\xff\"}"),
}

// TestMalformedInputNever500 sweeps the route table with a NUL and a
// non-UTF-8 byte in each path value, in the query string and in the JSON
// body, on both databases: every answer is a 4xx, and nothing is stored.
func TestMalformedInputNever500(t *testing.T) {
	// answers[backend][request] is the status and errcode, so the two
	// databases can be compared.
	answers := map[string]map[string]string{}
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		answers[backend] = map[string]string{}
		hs := testharness.StartBackend(t, backend)
		user := hs.RegisterUser(t, "malformed")
		room := createRoom(t, hs, user.Token, map[string]any{"preset": "public_chat"})
		eventID := sendMessage(t, hs, user.Token, room, "hello")
		values := map[string]string{
			"userId":        testharness.PathEscape(user.UserID),
			"deviceId":      user.DeviceID,
			"roomId":        testharness.PathEscape(room),
			"roomIdOrAlias": testharness.PathEscape(room),
			"eventId":       testharness.PathEscape(eventID),
			"serverName":    "localhost",
			"eventType":     "m.room.message",
			"stateKey":      "",
		}
		fill := func(pattern string, bad int, suffix string) string {
			i := -1
			out := pathWildcard.ReplaceAllStringFunc(pattern, func(w string) string {
				i++
				v, ok := values[w[1:len(w)-1]]
				if !ok {
					v = "x"
				}
				if i == bad {
					v += suffix
				}
				return v
			})
			return strings.ReplaceAll(out, "{$}", "")
		}
		tried, fivexx := 0, 0
		defer func() { t.Logf("%s: %d malformed requests, %d answered 5xx", backend, tried, fivexx) }()
		expect4xx := func(key, what string, r *testharness.Response) {
			t.Helper()
			tried++
			if r.Status >= 500 {
				fivexx++
			}
			answers[backend][key] = fmt.Sprintf("%d %s", r.Status, r.Errcode())
			if r.Status < 400 || r.Status >= 500 {
				t.Errorf("%s: %s", what, r)
			}
		}

		for _, rt := range hs.Server.API.Routes() {
			var body any
			if rt.Method == "POST" || rt.Method == "PUT" {
				body = map[string]any{}
			}
			n := len(pathWildcard.FindAllString(rt.Path, -1))
			for w := range n {
				for _, bad := range malformedValues {
					path := fill(rt.Path, w, bad)
					key := fmt.Sprintf("%s %s, wildcard %d + %s", rt.Method, rt.Path, w, bad)
					expect4xx(key, rt.Method+" "+path, hs.Do(t, rt.Method, path, user.Token, body))
				}
			}
			for _, bad := range malformedValues {
				path := fill(rt.Path, -1, "") + "?from=" + bad
				expect4xx(rt.Method+" "+rt.Path+"?from="+bad, rt.Method+" "+path, hs.Do(t, rt.Method, path, user.Token, body))
			}
			if body == nil || strings.Contains(rt.Path, "/upload") {
				continue // media uploads are opaque bytes, not JSON
			}
			for i, raw := range malformedBodies {
				path := fill(rt.Path, -1, "")
				expect4xx(fmt.Sprintf("%s %s, body %d", rt.Method, rt.Path, i), fmt.Sprintf("%s %s with %q", rt.Method, path, raw), hs.Do(t, rt.Method, path, user.Token, raw))
			}
		}

		// The guest-link redeem route needs no token.
		redeem := "/_foyer/client/v1/guest_links/%s/redeem"
		for _, bad := range malformedValues {
			expect4xx("redeem "+bad, "redeem "+bad, hs.Do(t, "POST", fmt.Sprintf(redeem, "x"+bad), "", nil))
		}
		for i, raw := range malformedBodies {
			expect4xx(fmt.Sprintf("redeem, body %d", i), fmt.Sprintf("redeem with %q", raw), hs.Do(t, "POST", fmt.Sprintf(redeem, "x"), "", raw))
		}

		// A media upload's bytes are opaque, but its Content-Type is stored.
		req, err := http.NewRequest("POST", hs.URL+"/_matrix/media/v3/upload", strings.NewReader("data"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+user.Token)
		req.Header.Set("Content-Type", "text/plain\xff")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		answers[backend]["upload with a Content-Type that is not UTF-8"] = fmt.Sprint(resp.StatusCode)
		if resp.StatusCode != 400 {
			t.Errorf("upload with a Content-Type that is not UTF-8: %d", resp.StatusCode)
		}

		// A message with a NUL in its content is refused as bad JSON, and
		// nothing of the sweep reached the room.
		send := hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/nul1"), user.Token, malformedBodies[0])
		if send.Status != 400 || send.Errcode() != "M_BAD_JSON" {
			t.Errorf("send with \\u0000: %s", send)
		}
		filter := url.QueryEscape(`{"types":["m.room.message\u0000"]}`)
		expect4xx("inline filter", "inline filter with \\u0000", hs.Do(t, "GET", roomPath(room, "/messages?dir=b&filter="+filter), user.Token, nil))
		msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=1000"), user.Token, nil)
		if msgs.Status != 200 {
			t.Fatalf("messages: %s", msgs)
		}
		if bodies := chunkBodies(msgs, "chunk"); len(bodies) != 1 || bodies[0] != "hello" {
			t.Errorf("messages after the sweep: %q", bodies)
		}
		for _, marker := range [][]byte{[]byte(`\u0000`), []byte(`\ufffd`), []byte("\uFFFD")} {
			if bytes.Contains(msgs.Raw, marker) {
				t.Errorf("the room holds %q after the sweep: %s", marker, msgs.Raw)
			}
		}
	})
	sqlite, postgres := answers["sqlite"], answers["postgres"]
	for key, a := range sqlite {
		if b, ok := postgres[key]; ok && a != b {
			t.Errorf("%s: SQLite answered %s, PostgreSQL %s", key, a, b)
		}
	}
}
