package serverkeys

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"foyer/internal/rooms/matrixevents"
)

// memStore is a Store in memory.
type memStore struct {
	mu      sync.Mutex
	keys    map[string]Key
	answers map[string]map[string]KeyAnswer
}

func newMemStore() *memStore {
	return &memStore{keys: map[string]Key{}, answers: map[string]map[string]KeyAnswer{}}
}

func (m *memStore) Key(_ context.Context, server, keyID string) (Key, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[server+"|"+keyID]
	return k, ok, nil
}

func (m *memStore) SaveResponse(_ context.Context, resp Response, _ int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.answers[resp.ServerName] == nil {
		m.answers[resp.ServerName] = map[string]KeyAnswer{}
	}
	for _, k := range resp.Keys {
		m.keys[resp.ServerName+"|"+k.KeyID] = k
		m.answers[resp.ServerName][k.KeyID] = KeyAnswer{KeyID: k.KeyID, Raw: resp.Raw, ValidUntilTS: resp.ValidUntilTS}
	}
	return nil
}

func (m *memStore) Answers(_ context.Context, server string, keyIDs []string) ([]KeyAnswer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []KeyAnswer
	for id, a := range m.answers[server] {
		if len(keyIDs) == 0 || slices.Contains(keyIDs, id) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b KeyAnswer) int { return strings.Compare(a.KeyID, b.KeyID) })
	return out, nil
}

// mapResolver sends each server name to a test server's URL.
type mapResolver map[string]string

func (m mapResolver) ResolveServer(_ context.Context, name string) (Destination, error) {
	if u, ok := m[name]; ok {
		return Destination{BaseURL: u}, nil
	}
	return Destination{}, errors.New("unknown server " + name)
}

// fakeServer serves keysJSON() as name's /_matrix/key/v2/server and
// counts the requests.
type fakeServer struct {
	name  string
	key   *matrixevents.SigningKey
	calls atomic.Int32
	// body returns the answer; nil serves the server's own keys.
	body func() []byte
}

func newFakeServer(t *testing.T, name string) (*fakeServer, *httptest.Server) {
	t.Helper()
	key, err := matrixevents.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{name: name, key: key}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_matrix/key/v2/server" {
			http.NotFound(w, r)
			return
		}
		f.calls.Add(1)
		body := f.signedKeys(time.Now().Add(time.Hour).UnixMilli())
		if f.body != nil {
			body = f.body()
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeServer) signedKeys(validUntil int64) []byte {
	raw, _ := json.Marshal(map[string]any{
		"server_name":     f.name,
		"valid_until_ts":  validUntil,
		"verify_keys":     map[string]any{f.key.KeyID(): map[string]string{"key": f.key.PublicKeyBase64()}},
		"old_verify_keys": map[string]any{},
	})
	signed, err := matrixevents.SignJSON(f.name, f.key, raw)
	if err != nil {
		panic(err)
	}
	return signed
}

func newTestService(t *testing.T, name string, resolver mapResolver, opts Options) (*Service, *memStore) {
	t.Helper()
	key, err := matrixevents.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	opts.ServerName, opts.SigningKey = name, key
	store := newMemStore()
	s := New(store, opts)
	s.SetOutbound(http.DefaultClient, resolver)
	return s, store
}

func TestUnknownKeyIsFetchedOnceWhileValid(t *testing.T) {
	remote, srv := newFakeServer(t, "remote.example")
	s, _ := newTestService(t, "local.example", mapResolver{"remote.example": srv.URL}, Options{})
	ctx := context.Background()
	for range 3 {
		pub, err := s.RequestKey(ctx, "remote.example", remote.key.KeyID())
		if err != nil {
			t.Fatal(err)
		}
		if !pub.Equal(remote.key.PublicKey()) {
			t.Fatal("wrong key")
		}
	}
	if n := remote.calls.Load(); n != 1 {
		t.Fatalf("fetched %d times, want once", n)
	}
	// A key ID the server does not have is not found, and does not make
	// this server ask again within a minute of the last fetch.
	for range 2 {
		if _, err := s.RequestKey(ctx, "remote.example", "ed25519:nope"); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("unknown key id: %v", err)
		}
	}
	if n := remote.calls.Load(); n != 1 {
		t.Fatalf("fetched %d times, want once", n)
	}
}

func TestExpiredKeyIsRefused(t *testing.T) {
	remote, srv := newFakeServer(t, "remote.example")
	remote.body = func() []byte { return remote.signedKeys(time.Now().Add(-time.Minute).UnixMilli()) }
	s, _ := newTestService(t, "local.example", mapResolver{"remote.example": srv.URL}, Options{})
	if _, err := s.RequestKey(context.Background(), "remote.example", remote.key.KeyID()); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("expired key: %v", err)
	}
	// An event sent while it was valid still checks with it.
	if _, err := s.EventKey(context.Background(), "remote.example", remote.key.KeyID(), time.Now().Add(-time.Hour).UnixMilli()); err != nil {
		t.Fatalf("event key: %v", err)
	}
}

func TestKeysNotSelfSignedAreRefused(t *testing.T) {
	remote, srv := newFakeServer(t, "remote.example")
	impostor, err := matrixevents.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	// Lists the real key but is signed by another one under its ID.
	remote.body = func() []byte {
		raw, _ := json.Marshal(map[string]any{
			"server_name":    "remote.example",
			"valid_until_ts": time.Now().Add(time.Hour).UnixMilli(),
			"verify_keys":    map[string]any{remote.key.KeyID(): map[string]string{"key": impostor.PublicKeyBase64()}},
		})
		signed, _ := matrixevents.SignJSON("remote.example", remote.key, raw)
		return signed
	}
	s, _ := newTestService(t, "local.example", mapResolver{"remote.example": srv.URL}, Options{})
	if _, err := s.RequestKey(context.Background(), "remote.example", remote.key.KeyID()); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("forged keys: %v", err)
	}
	// An answer for another server name is refused too.
	remote.body = func() []byte { return remote.signedKeys(time.Now().Add(time.Hour).UnixMilli()) }
	s2, _ := newTestService(t, "local.example", mapResolver{"other.example": srv.URL}, Options{})
	if _, err := s2.RequestKey(context.Background(), "other.example", remote.key.KeyID()); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("keys of another server: %v", err)
	}
}

func TestBlockedServerKeysAreNotFetched(t *testing.T) {
	remote, srv := newFakeServer(t, "remote.example")
	s, _ := newTestService(t, "local.example", mapResolver{"remote.example": srv.URL}, Options{
		Permits: func(name string) bool { return name != "remote.example" },
	})
	if _, err := s.RequestKey(context.Background(), "remote.example", remote.key.KeyID()); !errors.Is(err, ErrServerNotPermitted) {
		t.Fatalf("blocked: %v", err)
	}
	got, err := s.NotaryQuery(context.Background(), "remote.example", nil, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("notary for a blocked server: %s, %v", got, err)
	}
	if remote.calls.Load() != 0 {
		t.Fatal("a blocked server was asked for its keys")
	}
}

// A server that does not answer is asked of through a notary, whose
// answer must carry both the server's and the notary's signatures.
func TestKeysFetchedThroughNotary(t *testing.T) {
	remote, remoteSrv := newFakeServer(t, "remote.example")
	notary, notaryStore := newTestService(t, "notary.example", mapResolver{"remote.example": remoteSrv.URL}, Options{})
	_ = notaryStore
	notarySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/_matrix/key/v2/server":
			raw, _ := notary.OwnKeys()
			_, _ = w.Write(raw)
		case "/_matrix/key/v2/query":
			var q struct {
				ServerKeys map[string]json.RawMessage `json:"server_keys"`
			}
			_ = json.NewDecoder(r.Body).Decode(&q)
			var all []json.RawMessage
			for name := range q.ServerKeys {
				got, err := notary.NotaryQuery(r.Context(), name, nil, time.Now().UnixMilli())
				if err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				all = append(all, got...)
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"server_keys": all})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(notarySrv.Close)

	// The local server cannot reach remote.example itself.
	s, _ := newTestService(t, "local.example", mapResolver{"notary.example": notarySrv.URL}, Options{Notaries: []string{"notary.example"}})
	pub, err := s.RequestKey(context.Background(), "remote.example", remote.key.KeyID())
	if err != nil {
		t.Fatalf("through notary: %v", err)
	}
	if !pub.Equal(remote.key.PublicKey()) {
		t.Fatal("wrong key")
	}
}

func TestNotaryQuerySignsAndHonoursMinimumValidity(t *testing.T) {
	remote, srv := newFakeServer(t, "remote.example")
	s, _ := newTestService(t, "notary.example", mapResolver{"remote.example": srv.URL}, Options{})
	ctx := context.Background()
	got, err := s.NotaryQuery(ctx, "remote.example", nil, time.Now().UnixMilli())
	if err != nil || len(got) != 1 {
		t.Fatalf("notary: %s, %v", got, err)
	}
	if err := matrixevents.VerifyJSON("notary.example", s.opts.SigningKey.KeyID(), s.opts.SigningKey.PublicKey(), got[0]); err != nil {
		t.Fatalf("notary signature: %v", err)
	}
	if err := matrixevents.VerifyJSON("remote.example", remote.key.KeyID(), remote.key.PublicKey(), got[0]); err != nil {
		t.Fatalf("origin signature: %v", err)
	}
	// Cached: a second query within validity does not fetch.
	if _, err := s.NotaryQuery(ctx, "remote.example", nil, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if n := remote.calls.Load(); n != 1 {
		t.Fatalf("fetched %d times", n)
	}
	// Asking beyond the cached validity refetches, however recent the
	// last fetch; a server that is gone still has its last answer served.
	srv.Close()
	got, err = s.NotaryQuery(ctx, "remote.example", nil, time.Now().Add(30*24*time.Hour).UnixMilli())
	if err != nil || len(got) != 1 || !strings.Contains(string(got[0]), remote.key.PublicKeyBase64()) {
		t.Fatalf("stale answer: %s, %v", got, err)
	}
	// Our own keys are served as published, signed by us.
	own, err := s.NotaryQuery(ctx, "notary.example", nil, 0)
	if err != nil || len(own) != 1 {
		t.Fatalf("own: %s, %v", own, err)
	}
	if err := matrixevents.VerifyJSON("notary.example", s.opts.SigningKey.KeyID(), s.opts.SigningKey.PublicKey(), own[0]); err != nil {
		t.Fatal(err)
	}
	// An unknown, unreachable server gives an empty list.
	none, err := s.NotaryQuery(ctx, "nowhere.example", nil, 0)
	if err != nil || len(none) != 0 {
		t.Fatalf("unreachable: %s, %v", none, err)
	}
}

func TestNoOutboundClient(t *testing.T) {
	key, _ := matrixevents.NewSigningKey()
	s := New(newMemStore(), Options{ServerName: "local.example", SigningKey: key})
	if _, err := s.RequestKey(context.Background(), "remote.example", "ed25519:x"); !errors.Is(err, ErrNoOutbound) {
		t.Fatalf("got %v", err)
	}
	pub, err := s.RequestKey(context.Background(), "local.example", key.KeyID())
	if err != nil || !pub.Equal(key.PublicKey()) {
		t.Fatalf("own key: %v", err)
	}
}
