package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"foyer/internal/httpapi"
	"foyer/internal/testharness"
)

// artifactDir is where tests leave tables and screenshots for people.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("FOYER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fillPath puts plausible values into a route pattern's wildcards.
func fillPath(pattern string, acct testharness.Account) string {
	r := strings.NewReplacer(
		"{userId}", testharness.PathEscape(acct.UserID),
		"{deviceId}", acct.DeviceID,
		"{roomId}", testharness.PathEscape("!nowhere:localhost"),
		"{roomIdOrAlias}", testharness.PathEscape("#nowhere:localhost"),
		"{roomAlias}", testharness.PathEscape("#nowhere:localhost"),
		"{eventId}", testharness.PathEscape("$nothing"),
		"{serverName}", "localhost",
		"{stateKey}", "",
		"{stateKey...}", "",
	)
	out := r.Replace(pattern)
	if strings.HasSuffix(out, "/events") {
		// The guest form of /events previews one room.
		out += "?room_id=" + testharness.PathEscape("!nowhere:localhost") + "&timeout=0"
	}
	// Any other wildcard gets a plain value.
	for strings.Contains(out, "{") {
		i := strings.Index(out, "{")
		j := strings.Index(out[i:], "}")
		out = out[:i] + "x" + out[i+j+1:]
	}
	return out
}

// TestRouteAccessSweep_G13 calls every route with a user token, a guest
// token and no token, checks the access rules, and writes the table.
func TestRouteAccessSweep_G13(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		routes := hs.Server.API.Routes()
		sort.Slice(routes, func(i, j int) bool {
			if routes[i].Path != routes[j].Path {
				return routes[i].Path < routes[j].Path
			}
			return routes[i].Method < routes[j].Method
		})
		var table strings.Builder
		table.WriteString("| method | path | access | user token | guest token | no token |\n|---|---|---|---|---|---|\n")
		forbidden, allowed := 0, 0
		for i, rt := range routes {
			user := hs.RegisterUser(t, fmt.Sprintf("sweep%d", i))
			guest := hs.RegisterGuest(t)
			var body any
			if rt.Method == "POST" || rt.Method == "PUT" {
				body = map[string]any{}
			}
			cell := func(acct testharness.Account, token string) (*testharness.Response, string) {
				r := hs.Do(t, rt.Method, fillPath(rt.Path, acct), token, body)
				if r.Status >= 500 {
					t.Errorf("%s %s answered %s", rt.Method, rt.Path, r)
				}
				code := r.Errcode()
				if code == "" {
					return r, fmt.Sprint(r.Status)
				}
				return r, fmt.Sprintf("%d %s", r.Status, code)
			}
			// The federation userinfo check takes its own token in the
			// query string and asks for one without it, whoever calls.
			ownToken := strings.HasPrefix(rt.Path, "/_matrix/federation/")
			_, uc := cell(user, user.Token)
			gr, gc := cell(guest, guest.Token)
			nr, nc := cell(user, "")
			switch rt.Access {
			case httpapi.Open, httpapi.OptionalAuth:
				if nr.Errcode() == "M_MISSING_TOKEN" && !ownToken {
					t.Errorf("open route %s %s wants a token", rt.Method, rt.Path)
				}
			default:
				if nr.Status != 401 || nr.Errcode() != "M_MISSING_TOKEN" {
					t.Errorf("%s %s without a token: %s", rt.Method, rt.Path, nr)
				}
			}
			switch rt.Access {
			case httpapi.UserOnly, httpapi.AdminOnly:
				forbidden++
				if gr.Status != 403 || gr.Errcode() != "M_GUEST_ACCESS_FORBIDDEN" {
					t.Errorf("guest on %s %s: %s", rt.Method, rt.Path, gr)
				}
			default:
				allowed++
				if c := gr.Errcode(); (c == "M_GUEST_ACCESS_FORBIDDEN" || c == "M_MISSING_TOKEN" || c == "M_UNKNOWN_TOKEN") && !ownToken {
					t.Errorf("guest refused on %s route %s %s: %s", rt.Access, rt.Method, rt.Path, gr)
				}
			}
			fmt.Fprintf(&table, "| %s | `%s` | %s | %s | %s | %s |\n", rt.Method, rt.Path, rt.Access, uc, gc, nc)
		}
		fmt.Fprintf(&table, "\n%d routes: %d closed to guests, %d open or guest-ok.\n", len(routes), forbidden, allowed)
		t.Logf("%d routes: %d closed to guests, %d open to them", len(routes), forbidden, allowed)
		if backend == "sqlite" {
			if err := os.WriteFile(filepath.Join(artifactDir(t), "route-access.md"), []byte(table.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
}
