package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/testharness"
)

// testAppService is an application service written for the tests: it
// records the transactions the server sends it, in the order received,
// and can be switched off (answering 503) to stand for an outage.
type testAppService struct {
	t       testing.TB
	srv     *httptest.Server
	asToken string
	hsToken string

	mu   sync.Mutex
	down bool
	// txns are the transaction IDs accepted, in order; seen counts every
	// attempt, accepted or not.
	txns   []string
	bodies map[string]asTransaction
	seen   int
	// badAuth counts requests without the right hs_token.
	badAuth int
	// users and aliases are what the user and room queries answer for.
	users   map[string]bool
	aliases map[string]bool
	pings   []string
	// onQuery is called for each accepted alias query (the service may
	// create the room then).
	onAliasQuery func(alias string)
	onUserQuery  func(userID string)
}

type asTransaction struct {
	Events    []map[string]any `json:"events"`
	Ephemeral []map[string]any `json:"ephemeral"`
	// Unstable spellings mautrix reads as well.
	UnstableEphemeral []map[string]any `json:"de.sorunome.msc2409.ephemeral"`
	ToDevice          []map[string]any `json:"de.sorunome.msc2409.to_device"`
	DeviceLists       map[string]any   `json:"org.matrix.msc3202.device_lists"`
	OTKCounts         map[string]any   `json:"org.matrix.msc3202.device_one_time_keys_count"`
}

func newTestAppService(t testing.TB, name string) *testAppService {
	as := &testAppService{t: t, asToken: "as-token-" + name, hsToken: "hs-token-" + name,
		bodies: map[string]asTransaction{}, users: map[string]bool{}, aliases: map[string]bool{}}
	as.srv = httptest.NewServer(http.HandlerFunc(as.serve))
	t.Cleanup(as.srv.Close)
	return as
}

func (as *testAppService) serve(w http.ResponseWriter, r *http.Request) {
	as.mu.Lock()
	defer as.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+as.hsToken {
		as.badAuth++
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"errcode":"M_FORBIDDEN"}`)
		return
	}
	if as.down {
		as.seen++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	path := r.URL.Path
	switch {
	case r.Method == "PUT" && strings.HasPrefix(path, "/_matrix/app/v1/transactions/"):
		as.seen++
		txnID := strings.TrimPrefix(path, "/_matrix/app/v1/transactions/")
		var body asTransaction
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if _, dup := as.bodies[txnID]; !dup {
			as.txns = append(as.txns, txnID)
			as.bodies[txnID] = body
		}
		_, _ = io.WriteString(w, `{}`)
	case r.Method == "GET" && strings.HasPrefix(path, "/_matrix/app/v1/users/"):
		as.answerQuery(w, as.users, as.onUserQuery, strings.TrimPrefix(path, "/_matrix/app/v1/users/"))
	case r.Method == "GET" && strings.HasPrefix(path, "/_matrix/app/v1/rooms/"):
		as.answerQuery(w, as.aliases, as.onAliasQuery, strings.TrimPrefix(path, "/_matrix/app/v1/rooms/"))
	case r.Method == "POST" && path == "/_matrix/app/v1/ping":
		var body struct {
			TransactionID string `json:"transaction_id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		as.pings = append(as.pings, body.TransactionID)
		_, _ = io.WriteString(w, `{}`)
	case r.Method == "GET" && path == "/_matrix/app/v1/thirdparty/protocol/irc":
		_, _ = io.WriteString(w, `{"user_fields":["nick"],"location_fields":["channel"],"icon":"mxc://x/y","field_types":{},`+
			`"instances":[{"network_id":"libera","desc":"Libera Chat","fields":{}}]}`)
	case r.Method == "GET" && strings.HasPrefix(path, "/_matrix/app/v1/thirdparty/"):
		_, _ = fmt.Fprintf(w, `[{"protocol":"irc","fields":{"path":%q,"query":%q}}]`,
			strings.TrimPrefix(path, "/_matrix/app/v1/thirdparty/"), r.URL.RawQuery)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"errcode":"M_UNRECOGNIZED"}`)
	}
}

// answerQuery answers a user or alias query (called with as.mu held): a
// known ID is created by its hook, run without the lock since it calls
// Foyer, and found; any other is 404.
func (as *testAppService) answerQuery(w http.ResponseWriter, known map[string]bool, create func(string), id string) {
	if known[id] && create != nil {
		as.mu.Unlock()
		create(id)
		as.mu.Lock()
		_, _ = io.WriteString(w, `{}`)
		return
	}
	w.WriteHeader(http.StatusNotFound)
	_, _ = io.WriteString(w, `{"errcode":"M_NOT_FOUND"}`)
}

func (as *testAppService) setDown(down bool) {
	as.mu.Lock()
	as.down = down
	as.mu.Unlock()
}

// events returns every event received, in the order of the
// transactions that carried them.
func (as *testAppService) events() []map[string]any {
	as.mu.Lock()
	defer as.mu.Unlock()
	var out []map[string]any
	for _, id := range as.txns {
		out = append(out, as.bodies[id].Events...)
	}
	return out
}

// ephemeral returns every ephemeral event received.
func (as *testAppService) ephemeral() []map[string]any {
	as.mu.Lock()
	defer as.mu.Unlock()
	var out []map[string]any
	for _, id := range as.txns {
		out = append(out, as.bodies[id].Ephemeral...)
	}
	return out
}

// waitFor polls until cond holds of the received events.
func (as *testAppService) waitFor(t testing.TB, what string, cond func(events []map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		evs := as.events()
		if cond(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the application service never received %s; it has %d events: %v", what, len(evs), evs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// registration writes the service's registration file, with the given
// namespaces YAML (indented under namespaces:), and returns its path.
func (as *testAppService) registration(t testing.TB, id, senderLocalpart, namespaces string, extra string) string {
	t.Helper()
	body := fmt.Sprintf("id: %s\nurl: %s\nas_token: %s\nhs_token: %s\nsender_localpart: %s\nrate_limited: false\n%s\nnamespaces:\n%s\n",
		id, as.srv.URL, as.asToken, as.hsToken, senderLocalpart, extra, namespaces)
	path := filepath.Join(t.TempDir(), id+".yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// appServiceConfig is a test server's config with the given registration
// files and quick retries.
func appServiceConfig(t testing.TB, backend string, files ...string) config.Config {
	cfg := testharness.Config(t, backend)
	cfg.AppServices = files
	cfg.AppServiceDelivery.MaxBackoff = 100 * time.Millisecond
	cfg.AppServiceDelivery.Timeout = 5 * time.Second
	return cfg
}

// asDo sends a request as the application service, optionally
// masquerading as userID.
func asDo(t testing.TB, hs *testharness.Homeserver, as *testAppService, method, path, userID string, body any) *testharness.Response {
	t.Helper()
	if userID != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "user_id=" + testharness.PathEscape(userID)
	}
	return hs.Do(t, method, path, as.asToken, body)
}
