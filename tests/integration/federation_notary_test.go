package integration

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/outbound/outboundtest"
	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// keyOrigin is a server, not Foyer, whose /_matrix/key/v2/server answers
// what the test sets: a status and a body.
type keyOrigin struct {
	*fakeOrigin
	mu     sync.Mutex
	status int
	body   []byte
	// hold, when set, is waited on before answering.
	hold chan struct{}
}

func startKeyOrigin(t *testing.T, ca *outboundtest.CA) *keyOrigin {
	t.Helper()
	o := &keyOrigin{status: http.StatusNotFound}
	o.fakeOrigin = startFakeOrigin(t, ca, func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		status, body, hold := o.status, o.body, o.hold
		o.mu.Unlock()
		if hold != nil {
			<-hold
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	})
	return o
}

// answer makes the origin answer its keys listing keys, valid until
// validUntil and signed by each of them; status is what it answers with.
func (o *keyOrigin) answer(t *testing.T, validUntil int64, keys ...*matrixevents.SigningKey) {
	t.Helper()
	verify := map[string]any{}
	for _, k := range keys {
		verify[k.KeyID()] = map[string]string{"key": k.PublicKeyBase64()}
	}
	raw, err := json.Marshal(map[string]any{"server_name": o.name, "valid_until_ts": validUntil,
		"verify_keys": verify, "old_verify_keys": map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if raw, err = matrixevents.SignJSON(o.name, k, raw); err != nil {
			t.Fatal(err)
		}
	}
	o.set(http.StatusOK, raw)
}

func (o *keyOrigin) set(status int, body []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.status, o.body = status, body
}

// notaryAnswer is one key object of a notary's answer.
type notaryAnswer struct {
	raw          json.RawMessage
	ValidUntilTS int64                        `json:"valid_until_ts"`
	VerifyKeys   map[string]map[string]string `json:"verify_keys"`
}

// queryNotary asks notary, by POST, for origin's keys keyIDs, each with
// minimum_valid_until_ts minValid (none when nil), and checks that every
// answer carries the origin's self-signature and the notary's signature.
func queryNotary(t *testing.T, notary *testharness.Homeserver, origin string, minValid *int64, keyIDs ...string) []notaryAnswer {
	t.Helper()
	criteria := map[string]any{}
	for _, id := range keyIDs {
		c := map[string]any{}
		if minValid != nil {
			c["minimum_valid_until_ts"] = *minValid
		}
		criteria[id] = c
	}
	r := notary.Do(t, "POST", "/_matrix/key/v2/query", "", map[string]any{"server_keys": map[string]any{origin: criteria}})
	return checkNotaryAnswers(t, notary, origin, serverKeysOf(t, r))
}

func checkNotaryAnswers(t *testing.T, notary *testharness.Homeserver, origin string, raws []json.RawMessage) []notaryAnswer {
	t.Helper()
	notaryKey := notary.SigningKey(t)
	var out []notaryAnswer
	for _, raw := range raws {
		a := notaryAnswer{raw: raw}
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatal(err)
		}
		if err := matrixevents.VerifyJSON(notary.Config.ServerName, notaryKey.KeyID(), notaryKey.PublicKey(), raw); err != nil {
			t.Fatalf("notary signature: %v: %s", err, raw)
		}
		for id, k := range a.VerifyKeys {
			pub, err := matrixevents.DecodeBase64(k["key"])
			if err != nil {
				t.Fatal(err)
			}
			if err := matrixevents.VerifyJSON(origin, id, pub, raw); err != nil {
				t.Fatalf("origin signature by %s: %v: %s", id, err, raw)
			}
		}
		out = append(out, a)
	}
	return out
}

// expectOneKey fails unless answers is one answer listing keyID, valid
// until validUntil.
func expectOneKey(t *testing.T, what string, answers []notaryAnswer, keyID string, validUntil int64) {
	t.Helper()
	if len(answers) != 1 || answers[0].VerifyKeys[keyID] == nil || answers[0].ValidUntilTS != validUntil {
		t.Fatalf("%s: want one answer with %s valid until %d, got %d: %v", what, keyID, validUntil, len(answers), answers)
	}
}

func expectFetches(t *testing.T, what string, o *keyOrigin, n int32) {
	t.Helper()
	if got := o.requests.Load(); got != n {
		t.Fatalf("%s: the origin was asked %d times, want %d (%v)", what, got, n, o.paths())
	}
}

// As a notary, A asks the origin again whenever an asker needs a key valid
// later than A's answer is, however recently A asked; when the origin then
// fails, A still serves the expired answer it has, which is the most
// recent.
func TestFederationKeyNotaryServesExpiredKeys(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		ca := outboundtest.NewCA(t)
		caFile := ca.WriteFile(t)
		a := testharness.StartFederation(t, backend, 1, func(_ int, c *config.Config) { c.Outbound.TrustedCAFile = caFile })[0]
		origin := startKeyOrigin(t, ca)
		key0 := keyWithID(t, "ed25519:key_0")
		expired := time.Now().Add(-24 * time.Hour).UnixMilli()
		origin.answer(t, expired, key0)

		zero := int64(0)
		expectOneKey(t, "first query", queryNotary(t, a, origin.name, &zero, key0.KeyID()), key0.KeyID(), expired)
		expectFetches(t, "first query", origin, 1)

		later := expired + 1000
		expectOneKey(t, "query beyond the answer", queryNotary(t, a, origin.name, &later, key0.KeyID()), key0.KeyID(), expired)
		expectFetches(t, "query beyond the answer", origin, 2)

		origin.set(http.StatusBadRequest, []byte(`{}`))
		expectOneKey(t, "query with the origin failing", queryNotary(t, a, origin.name, &later, key0.KeyID()), key0.KeyID(), expired)
		expectFetches(t, "query with the origin failing", origin, 3)

		// The GET forms serve it too: by key ID, and all the server's keys.
		got := checkNotaryAnswers(t, a, origin.name, serverKeysOf(t, a.Do(t, "GET",
			"/_matrix/key/v2/query/"+url.PathEscape(origin.name)+"/"+url.PathEscape(key0.KeyID()), "", nil)))
		expectOneKey(t, "GET by key ID", got, key0.KeyID(), expired)
		got = checkNotaryAnswers(t, a, origin.name, serverKeysOf(t, a.Do(t, "GET",
			"/_matrix/key/v2/query/"+url.PathEscape(origin.name), "", nil)))
		expectOneKey(t, "GET all keys", got, key0.KeyID(), expired)
	})
}

// An origin's answer that no longer lists a key does not take that key's
// place: asked for the key, the notary serves the last answer listing it.
// Answers valid long enough are served without asking the origin, each
// once however many of its keys are asked for, and concurrent queries
// needing a fetch share one.
func TestFederationKeyNotaryKeepsEachKeysAnswer(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		ca := outboundtest.NewCA(t)
		caFile := ca.WriteFile(t)
		a := testharness.StartFederation(t, backend, 1, func(_ int, c *config.Config) { c.Outbound.TrustedCAFile = caFile })[0]
		origin := startKeyOrigin(t, ca)
		key1, key2 := keyWithID(t, "ed25519:key_1"), keyWithID(t, "ed25519:key_2")
		expired := time.Now().Add(-24 * time.Hour).UnixMilli()

		origin.answer(t, expired, key1)
		expectOneKey(t, "key_1", queryNotary(t, a, origin.name, nil, key1.KeyID()), key1.KeyID(), expired)
		expectFetches(t, "key_1", origin, 1)

		// The origin now answers key_2 only.
		origin.answer(t, expired+1000, key2)
		now := time.Now().UnixMilli()
		expectOneKey(t, "key_1 after a spurious answer", queryNotary(t, a, origin.name, &now, key1.KeyID()), key1.KeyID(), expired)
		expectFetches(t, "key_1 after a spurious answer", origin, 2)
		// Asked no later than key_1's answer is valid, A serves it without
		// asking.
		old := expired
		expectOneKey(t, "key_1 at its validity", queryNotary(t, a, origin.name, &old, key1.KeyID()), key1.KeyID(), expired)
		expectFetches(t, "key_1 at its validity", origin, 2)
		// All the origin's keys: the answers of both, from the cache while
		// the newest is valid as long as asked; asked for now (POST with
		// no criteria), A asks the origin again.
		bothAnswers := func(what string, all []notaryAnswer) {
			t.Helper()
			if len(all) != 2 || all[0].VerifyKeys[key1.KeyID()] == nil && all[1].VerifyKeys[key1.KeyID()] == nil ||
				all[0].VerifyKeys[key2.KeyID()] == nil && all[1].VerifyKeys[key2.KeyID()] == nil {
				t.Fatalf("%s: %v", what, all)
			}
		}
		bothAnswers("all keys by GET", checkNotaryAnswers(t, a, origin.name, serverKeysOf(t, a.Do(t, "GET",
			"/_matrix/key/v2/query/"+url.PathEscape(origin.name)+"?minimum_valid_until_ts="+strconv.FormatInt(expired+1000, 10), "", nil))))
		expectFetches(t, "all keys by GET", origin, 2)
		bothAnswers("all keys by POST", queryNotary(t, a, origin.name, nil))
		expectFetches(t, "all keys by POST", origin, 3)

		// One answer listing two keys is served once for both, and while
		// valid without asking again.
		key3, key4 := keyWithID(t, "ed25519:key_3"), keyWithID(t, "ed25519:key_4")
		valid := time.Now().Add(time.Hour).UnixMilli()
		origin.answer(t, valid, key3, key4)
		both := queryNotary(t, a, origin.name, nil, key3.KeyID(), key4.KeyID())
		if len(both) != 1 || both[0].VerifyKeys[key3.KeyID()] == nil || both[0].VerifyKeys[key4.KeyID()] == nil {
			t.Fatalf("one answer for two keys: %v", both)
		}
		expectFetches(t, "one answer for two keys", origin, 4)
		expectOneKey(t, "key_3 again", queryNotary(t, a, origin.name, nil, key3.KeyID()), key3.KeyID(), valid)
		expectFetches(t, "key_3 again", origin, 4)

		// Concurrent queries for a key A lacks share one fetch.
		key5 := keyWithID(t, "ed25519:key_5")
		origin.answer(t, valid, key5)
		release := make(chan struct{})
		origin.mu.Lock()
		origin.hold = release
		origin.mu.Unlock()
		const askers = 5
		var wg sync.WaitGroup
		results := make([]*testharness.Response, askers)
		errs := make([]error, askers)
		for i := range askers {
			wg.Go(func() {
				results[i], errs[i] = a.DoErr("POST", "/_matrix/key/v2/query", "", map[string]any{"server_keys": map[string]any{
					origin.name: map[string]any{key5.KeyID(): map[string]any{}}}})
			})
		}
		time.Sleep(300 * time.Millisecond)
		close(release)
		wg.Wait()
		for i := range askers {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			expectOneKey(t, "concurrent query", checkNotaryAnswers(t, a, origin.name, serverKeysOf(t, results[i])), key5.KeyID(), valid)
		}
		expectFetches(t, "concurrent queries", origin, 5)
	})
}
