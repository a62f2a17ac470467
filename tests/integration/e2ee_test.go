package integration

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"foyer/internal/e2ee"
	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// The end-to-end encryption tests act as a client's crypto would: real
// ed25519 keys made here, objects signed over their canonical JSON.

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

// signObj adds a signature by signer with keyID over obj's canonical JSON
// without "signatures" and "unsigned", keeping existing signatures.
func signObj(t testing.TB, obj map[string]any, signer, keyID string, priv ed25519.PrivateKey) map[string]any {
	t.Helper()
	bare := map[string]any{}
	for k, v := range obj {
		if k != "signatures" && k != "unsigned" {
			bare[k] = v
		}
	}
	raw, err := json.Marshal(bare)
	if err != nil {
		t.Fatal(err)
	}
	canon, err := matrixevents.CanonicalJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	sigs, _ := obj["signatures"].(map[string]any)
	if sigs == nil {
		sigs = map[string]any{}
	}
	mine, _ := sigs[signer].(map[string]any)
	if mine == nil {
		mine = map[string]any{}
	}
	mine[keyID] = b64(ed25519.Sign(priv, canon))
	sigs[signer] = mine
	obj["signatures"] = sigs
	return obj
}

// verifyObj checks a signature on a JSON object as a client would.
func verifyObj(t testing.TB, obj any, signer, keyID string, pub ed25519.PublicKey) bool {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return matrixevents.VerifyJSON(signer, keyID, pub, raw) == nil
}

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// cryptoDevice is a logged-in device with its own ed25519 identity key.
type cryptoDevice struct {
	testharness.Account
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	otk  int
}

func newCryptoDevice(t testing.TB, acct testharness.Account) *cryptoDevice {
	pub, priv := newKey(t)
	return &cryptoDevice{Account: acct, pub: pub, priv: priv}
}

func (d *cryptoDevice) keyID() string { return "ed25519:" + d.DeviceID }

func (d *cryptoDevice) deviceKeys(t testing.TB) map[string]any {
	curve, _ := newKey(t) // any 32 bytes stand in for the curve25519 key
	return signObj(t, map[string]any{
		"user_id":    d.UserID,
		"device_id":  d.DeviceID,
		"algorithms": []any{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys": map[string]any{
			"curve25519:" + d.DeviceID: b64(curve),
			"ed25519:" + d.DeviceID:    b64(d.pub),
		},
	}, d.UserID, d.keyID(), d.priv)
}

// oneTimeKeys makes n signed curve25519 one-time keys.
func (d *cryptoDevice) oneTimeKeys(t testing.TB, n int) map[string]any {
	out := map[string]any{}
	for range n {
		d.otk++
		k, _ := newKey(t)
		out[fmt.Sprintf("signed_curve25519:AAAA%04d", d.otk)] = signObj(t, map[string]any{"key": b64(k)}, d.UserID, d.keyID(), d.priv)
	}
	return out
}

func (d *cryptoDevice) fallbackKey(t testing.TB, id string) map[string]any {
	k, _ := newKey(t)
	return map[string]any{"signed_curve25519:" + id: signObj(t, map[string]any{"key": b64(k), "fallback": true}, d.UserID, d.keyID(), d.priv)}
}

func uploadKeys(t testing.TB, hs *testharness.Homeserver, token string, body map[string]any) *testharness.Response {
	t.Helper()
	return hs.Do(t, "POST", cs+"/keys/upload", token, body)
}

// setUpDevice uploads device keys, n one-time keys and a fallback key.
func (d *cryptoDevice) setUp(t *testing.T, hs *testharness.Homeserver, n int) {
	t.Helper()
	r := uploadKeys(t, hs, d.Token, map[string]any{
		"device_keys":   d.deviceKeys(t),
		"one_time_keys": d.oneTimeKeys(t, n),
		"fallback_keys": d.fallbackKey(t, "FALLBACK1"),
	})
	expect(t, r, 200, "")
}

func loginDevice(t *testing.T, hs *testharness.Homeserver, acct testharness.Account, deviceID string) testharness.Account {
	t.Helper()
	r := hs.Do(t, "POST", cs+"/login", "", map[string]any{"type": "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": acct.UserID}, "password": acct.Password, "device_id": deviceID})
	expect(t, r, 200, "")
	return testharness.Account{UserID: acct.UserID, DeviceID: r.Str("device_id"), Token: r.Str("access_token"), Password: acct.Password}
}

// e2eeSync is the end-to-end part of a sync response.
type e2eeSync struct {
	NextBatch   string `json:"next_batch"`
	DeviceLists struct {
		Changed []string `json:"changed"`
		Left    []string `json:"left"`
	} `json:"device_lists"`
	OTKCount     map[string]int `json:"device_one_time_keys_count"`
	FallbackKeys []string       `json:"device_unused_fallback_key_types"`
	ToDevice     struct {
		Events []struct {
			Type    string         `json:"type"`
			Sender  string         `json:"sender"`
			Content map[string]any `json:"content"`
		} `json:"events"`
	} `json:"to_device"`
}

func syncE2EE(t testing.TB, hs *testharness.Homeserver, token, query string) e2eeSync {
	t.Helper()
	_, r := doSync(t, hs, token, query)
	var s e2eeSync
	if err := json.Unmarshal(r.Raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func encryptedGuestRoom(t *testing.T, hs *testharness.Homeserver, token string) string {
	t.Helper()
	return createRoom(t, hs, token, map[string]any{
		"preset": "public_chat",
		"initial_state": []map[string]any{
			{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}},
			{"type": "m.room.encryption", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}},
		},
	})
}

func jsonPath(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// G-45: uploads are checked and kept intact; queries return them to
// users and guests alike.
func TestKeysUploadAndQuery_G45(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := newCryptoDevice(t, hs.RegisterUser(t, "alice"))
		guest := newCryptoDevice(t, hs.RegisterGuest(t))

		expect(t, uploadKeys(t, hs, "", map[string]any{}), 401, "M_MISSING_TOKEN")

		// Bad device keys are refused with M_INVALID_PARAM.
		bad := alice.deviceKeys(t)
		bad["algorithms"] = []any{"m.megolm.v1.aes-sha2", "tampered"}
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"device_keys": bad}), 400, "M_INVALID_PARAM")
		other := newCryptoDevice(t, alice.Account)
		wrongSigner := other.deviceKeys(t)
		wrongSigner["keys"].(map[string]any)["ed25519:"+alice.DeviceID] = b64(alice.pub)
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"device_keys": wrongSigner}), 400, "M_INVALID_PARAM")
		notMine := guest.deviceKeys(t)
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"device_keys": notMine}), 400, "M_INVALID_PARAM")
		otherDevice := alice.deviceKeys(t)
		otherDevice["device_id"] = "SOMEOTHER"
		otherDevice = signObj(t, otherDevice, alice.UserID, alice.keyID(), alice.priv)
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"device_keys": otherDevice}), 400, "M_INVALID_PARAM")
		noAlgs := alice.deviceKeys(t)
		delete(noAlgs, "algorithms")
		noAlgs = signObj(t, noAlgs, alice.UserID, alice.keyID(), alice.priv)
		// A required field missing is malformed for the schema.
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"device_keys": noAlgs}), 400, "M_BAD_JSON")
		unsigned := alice.deviceKeys(t)
		delete(unsigned, "signatures")
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"device_keys": unsigned}), 400, "M_INVALID_PARAM")
		// A signed one-time key before any device key cannot be checked.
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"one_time_keys": alice.oneTimeKeys(t, 1)}), 400, "M_INVALID_PARAM")

		// A good upload: device keys, 5 one-time keys and a fallback key.
		dk := alice.deviceKeys(t)
		dk["unsigned"] = map[string]any{"note": "not covered by signatures"}
		r := uploadKeys(t, hs, alice.Token, map[string]any{
			"device_keys":   dk,
			"one_time_keys": alice.oneTimeKeys(t, 5),
			"fallback_keys": alice.fallbackKey(t, "FB1"),
		})
		expect(t, r, 200, "")
		if n := jsonPath(r.JSON, "one_time_key_counts", "signed_curve25519"); n != float64(5) {
			t.Fatalf("one_time_key_counts: %s", r)
		}
		// The same device keys again are fine; new ones replace them (a
		// client that lost its store uploads fresh keys, as Synapse
		// allows), and a query then gives the new ones.
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"device_keys": dk}), 200, "")
		newKeys := alice.deviceKeys(t)
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"device_keys": newKeys}), 200, "")
		fq := hs.Do(t, "POST", cs+"/keys/query", alice.Token, map[string]any{"device_keys": map[string]any{alice.UserID: []any{alice.DeviceID}}})
		wantCurve := newKeys["keys"].(map[string]any)["curve25519:"+alice.DeviceID]
		if got := jsonPath(fq.JSON, "device_keys", alice.UserID, alice.DeviceID, "keys", "curve25519:"+alice.DeviceID); fq.Status != 200 || got != wantCurve {
			t.Fatalf("keys after a replacement: %s", fq)
		}
		// A one-time key signed by someone else, and one with a bad
		// signature, are refused; the count is unchanged.
		forged := signObj(t, map[string]any{"key": b64(other.pub)}, alice.UserID, alice.keyID(), other.priv)
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"one_time_keys": map[string]any{"signed_curve25519:FORGED": forged}}), 400, "M_INVALID_PARAM")
		noColon := map[string]any{"nocolon": signObj(t, map[string]any{"key": "x"}, alice.UserID, alice.keyID(), alice.priv)}
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"one_time_keys": noColon}), 400, "M_INVALID_PARAM")
		// Re-using a one-time key ID for another key is refused.
		reuse := signObj(t, map[string]any{"key": b64(other.pub)}, alice.UserID, alice.keyID(), alice.priv)
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"one_time_keys": map[string]any{"signed_curve25519:AAAA0002": reuse}}), 400, "M_INVALID_PARAM")
		r = uploadKeys(t, hs, alice.Token, map[string]any{})
		if n := jsonPath(r.JSON, "one_time_key_counts", "signed_curve25519"); r.Status != 200 || n != float64(5) {
			t.Fatalf("counts after refused uploads: %s", r)
		}

		// A guest uploads its keys too (G-45).
		guest.setUp(t, hs, 3)

		// The guest queries alice (and someone unknown); alice queries
		// the guest. Signatures arrive intact and verify.
		expect(t, hs.Do(t, "POST", cs+"/keys/query", "", map[string]any{"device_keys": map[string]any{}}), 401, "M_MISSING_TOKEN")
		q := hs.Do(t, "POST", cs+"/keys/query", guest.Token, map[string]any{"device_keys": map[string]any{
			alice.UserID: []any{}, "@nobody:localhost": []any{},
		}})
		expect(t, q, 200, "")
		got := jsonPath(q.JSON, "device_keys", alice.UserID, alice.DeviceID)
		if got == nil || !verifyObj(t, got, alice.UserID, alice.keyID(), alice.pub) {
			t.Fatalf("alice's device keys missing or not verifiable: %s", q)
		}
		if k := jsonPath(got, "keys", alice.keyID()); k != b64(alice.pub) {
			t.Fatalf("keys changed: %s", q)
		}
		if nobody, ok := jsonPath(q.JSON, "device_keys").(map[string]any)["@nobody:localhost"].(map[string]any); !ok || len(nobody) != 0 {
			t.Fatalf("unknown user should be an empty entry: %s", q)
		}
		if f, ok := q.JSON["failures"].(map[string]any); !ok || len(f) != 0 {
			t.Fatalf("failures: %s", q)
		}
		// Asking for one device narrows the answer.
		expect(t, hs.Do(t, "PUT", cs+"/devices/"+guest.DeviceID, guest.Token, map[string]any{"display_name": "visitor phone"}), 200, "")
		q = hs.Do(t, "POST", cs+"/keys/query", alice.Token, map[string]any{"device_keys": map[string]any{
			guest.UserID: []any{guest.DeviceID}, alice.UserID: []any{"NOSUCHDEVICE"},
		}})
		expect(t, q, 200, "")
		gk := jsonPath(q.JSON, "device_keys", guest.UserID, guest.DeviceID)
		if gk == nil || !verifyObj(t, gk, guest.UserID, guest.keyID(), guest.pub) {
			t.Fatalf("guest's keys: %s", q)
		}
		if jsonPath(gk, "unsigned", "device_display_name") != "visitor phone" {
			t.Fatalf("device_display_name: %s", q)
		}
		if len(jsonPath(q.JSON, "device_keys", alice.UserID).(map[string]any)) != 0 {
			t.Fatalf("narrowed query returned other devices: %s", q)
		}

		// Sync reports the device's counts and unused fallback key.
		s := syncE2EE(t, hs, alice.Token, "")
		if s.OTKCount["signed_curve25519"] != 5 || !slices.Equal(s.FallbackKeys, []string{"signed_curve25519"}) {
			t.Fatalf("sync key counts: %+v %v", s.OTKCount, s.FallbackKeys)
		}
		fresh := hs.RegisterGuest(t)
		s = syncE2EE(t, hs, fresh.Token, "")
		if n, ok := s.OTKCount["signed_curve25519"]; !ok || n != 0 || s.FallbackKeys == nil || len(s.FallbackKeys) != 0 {
			t.Fatalf("a device without keys: %+v %v", s.OTKCount, s.FallbackKeys)
		}
	})
}

func claim(t testing.TB, hs *testharness.Homeserver, token string, req map[string]any) *testharness.Response {
	t.Helper()
	return hs.Do(t, "POST", cs+"/keys/claim", token, map[string]any{"one_time_keys": req})
}

// claimedKeyID returns the one key ID claimed for user's device, or "".
func claimedKeyID(t testing.TB, r *testharness.Response, userID, deviceID string) string {
	t.Helper()
	keys, _ := jsonPath(r.JSON, "one_time_keys", userID, deviceID).(map[string]any)
	if len(keys) > 1 {
		t.Fatalf("more than one key for one device: %s", r)
	}
	for id := range keys {
		return id
	}
	return ""
}

// G-45: a one-time key is handed out once; then the fallback key.
func TestKeysClaim_G45(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := newCryptoDevice(t, hs.RegisterUser(t, "alice"))
		guest := hs.RegisterGuest(t)
		alice.setUp(t, hs, 2)

		expect(t, claim(t, hs, "", map[string]any{}), 401, "M_MISSING_TOKEN")
		req := map[string]any{alice.UserID: map[string]any{alice.DeviceID: "signed_curve25519"}}
		var ids []string
		for range 4 {
			r := claim(t, hs, guest.Token, req)
			expect(t, r, 200, "")
			if f, ok := r.JSON["failures"].(map[string]any); !ok || len(f) != 0 {
				t.Fatalf("failures: %s", r)
			}
			id := claimedKeyID(t, r, alice.UserID, alice.DeviceID)
			key := jsonPath(r.JSON, "one_time_keys", alice.UserID, alice.DeviceID, id)
			if !verifyObj(t, key, alice.UserID, alice.keyID(), alice.pub) {
				t.Fatalf("claimed key does not verify: %s", r)
			}
			ids = append(ids, id)
		}
		if ids[0] == ids[1] || !slices.Contains(ids[:2], "signed_curve25519:AAAA0001") || !slices.Contains(ids[:2], "signed_curve25519:AAAA0002") {
			t.Fatalf("one-time keys: %v", ids)
		}
		if ids[2] != "signed_curve25519:FALLBACK1" || ids[3] != ids[2] {
			t.Fatalf("after the one-time keys, the fallback key: %v", ids)
		}
		s := syncE2EE(t, hs, alice.Token, "")
		if s.OTKCount["signed_curve25519"] != 0 || len(s.FallbackKeys) != 0 {
			t.Fatalf("after claims: %+v %v", s.OTKCount, s.FallbackKeys)
		}
		// A new fallback key is unused again.
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"fallback_keys": alice.fallbackKey(t, "FALLBACK2")}), 200, "")
		s = syncE2EE(t, hs, alice.Token, "")
		if !slices.Equal(s.FallbackKeys, []string{"signed_curve25519"}) {
			t.Fatalf("new fallback key: %v", s.FallbackKeys)
		}
		// Devices without keys, and unknown ones, are left out.
		r := claim(t, hs, alice.Token, map[string]any{guest.UserID: map[string]any{guest.DeviceID: "signed_curve25519"},
			"@nobody:localhost": map[string]any{"X": "signed_curve25519"}})
		expect(t, r, 200, "")
		if len(r.JSON["one_time_keys"].(map[string]any)) != 0 {
			t.Fatalf("claim without keys: %s", r)
		}
	})
}

// TestClaimOneTimeKeysConcurrently: 100 claims at once for 50 one-time
// keys hand each key out exactly once; the other 50 get the fallback key.
func TestClaimOneTimeKeysConcurrently(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := newCryptoDevice(t, hs.RegisterUser(t, "alice"))
		alice.setUp(t, hs, 50)
		claimers := make([]testharness.Account, 10)
		for i := range claimers {
			claimers[i] = hs.RegisterGuest(t)
		}
		req := map[string]any{alice.UserID: map[string]any{alice.DeviceID: "signed_curve25519"}}
		ids := make([]string, 100)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := hs.DoErr("POST", cs+"/keys/claim", claimers[i%len(claimers)].Token, map[string]any{"one_time_keys": req})
				if err != nil || r.Status != 200 {
					t.Errorf("claim %d: %v %v", i, err, r)
					return
				}
				keys, _ := jsonPath(r.JSON, "one_time_keys", alice.UserID, alice.DeviceID).(map[string]any)
				for id := range keys {
					ids[i] = id
				}
			}()
		}
		close(start)
		wg.Wait()
		checkClaims(t, backend, "over HTTP", ids, "signed_curve25519:FALLBACK1")

		// Again straight on the service, where nothing in front of the
		// database spaces the claims out.
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{
			"one_time_keys": alice.oneTimeKeys(t, 50), "fallback_keys": alice.fallbackKey(t, "FALLBACK2"),
		}), 200, "")
		svc := hs.Server.Services.E2EE
		ids = make([]string, 100)
		start = make(chan struct{})
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got, _, err := svc.Claim(context.Background(), map[string]map[string]string{alice.UserID: {alice.DeviceID: "signed_curve25519"}}, e2ee.DefaultRemoteTimeout)
				if err != nil {
					t.Errorf("claim %d: %v", i, err)
					return
				}
				for id := range got[alice.UserID][alice.DeviceID] {
					ids[i] = id
				}
			}()
		}
		close(start)
		wg.Wait()
		checkClaims(t, backend, "on the service", ids, "signed_curve25519:FALLBACK2")
		if s := syncE2EE(t, hs, alice.Token, ""); s.OTKCount["signed_curve25519"] != 0 {
			t.Fatalf("one-time keys left: %+v", s.OTKCount)
		}

		if backend == "postgres" {
			// Overlap made certain: a transaction holds the first key's row
			// as an in-flight claim does. A claim meanwhile must take the
			// next key at once, not wait for the row and then fall back.
			expect(t, uploadKeys(t, hs, alice.Token, map[string]any{
				"one_time_keys": alice.oneTimeKeys(t, 2), "fallback_keys": alice.fallbackKey(t, "FALLBACK3"),
			}), 200, "")
			ctx := context.Background()
			tx, err := hs.Server.DB.Write.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var held string
			if err := tx.QueryRowContext(ctx, `SELECT key_id FROM e2e_one_time_keys WHERE user_id = $1 ORDER BY key_id LIMIT 1 FOR UPDATE`,
				alice.UserID).Scan(&held); err != nil {
				t.Fatal(err)
			}
			got := make(chan string, 1)
			go func() {
				r, err := hs.DoErr("POST", cs+"/keys/claim", claimers[0].Token, map[string]any{"one_time_keys": req})
				if err != nil || r.Status != 200 {
					t.Errorf("claim: %v %v", err, r)
					got <- ""
					return
				}
				got <- claimedKeyID(t, r, alice.UserID, alice.DeviceID)
			}()
			var id string
			select {
			case id = <-got:
			case <-time.After(5 * time.Second):
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM e2e_one_time_keys WHERE user_id = $1 AND key_id = $2`, alice.UserID, held); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if id == "" {
				id = <-got
				t.Fatalf("a claim overlapping another waited for its key and got %q", id)
			}
			if id == "signed_curve25519:"+held || id == "signed_curve25519:FALLBACK3" {
				t.Fatalf("overlapping claim got %q (held: %s)", id, held)
			}
			t.Logf("postgres: a claim overlapping an in-flight one got the next key %s at once", id)
		}
	})
}

// checkClaims checks 100 claims' answers: 50 distinct one-time keys, each
// once, and the fallback key for the other 50.
func checkClaims(t *testing.T, backend, how string, ids []string, fallbackID string) {
	t.Helper()
	seen := map[string]int{}
	fallback := 0
	for _, id := range ids {
		if id == fallbackID {
			fallback++
			continue
		}
		seen[id]++
	}
	for id, n := range seen {
		if n != 1 || id == "" {
			t.Errorf("key %q handed out %d times", id, n)
		}
	}
	if len(seen) != 50 || fallback != 50 {
		t.Fatalf("%s: %d distinct one-time keys and %d fallback answers; want 50 and 50", how, len(seen), fallback)
	}
	t.Logf("%s, %s: 100 concurrent claims for 50 one-time keys: %d keys each handed out once, %d fallback answers", backend, how, len(seen), fallback)
}

// G-46: device-list tracking in sync and /keys/changes, for guests too.
func TestDeviceListTracking_G46(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		aliceAcct := hs.RegisterUser(t, "alice")
		alice := newCryptoDevice(t, aliceAcct)
		guest := newCryptoDevice(t, hs.RegisterGuest(t))
		room := encryptedGuestRoom(t, hs, alice.Token)
		mustJoin(t, hs, guest.Token, room)

		s0 := syncE2EE(t, hs, guest.Token, "")
		// Alice uploads keys: the guest's long-poll wakes with her in
		// changed.
		woken := make(chan e2eeSync, 1)
		go func() { woken <- syncE2EE(t, hs, guest.Token, "timeout=20000&since="+s0.NextBatch) }()
		time.Sleep(200 * time.Millisecond)
		alice.setUp(t, hs, 1)
		var s1 e2eeSync
		select {
		case s1 = <-woken:
		case <-time.After(10 * time.Second):
			t.Fatal("long-poll not woken by a device-key upload")
		}
		if !slices.Contains(s1.DeviceLists.Changed, alice.UserID) {
			t.Fatalf("changed after alice's upload: %+v", s1.DeviceLists)
		}
		// /keys/changes over the same range says the same, for guests.
		expect(t, hs.Do(t, "GET", cs+"/keys/changes?from="+s0.NextBatch+"&to="+s1.NextBatch, "", nil), 401, "M_MISSING_TOKEN")
		expect(t, hs.Do(t, "GET", cs+"/keys/changes?from=bogus&to="+s1.NextBatch, guest.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", cs+"/keys/changes?from="+s0.NextBatch, guest.Token, nil), 400, "M_MISSING_PARAM")
		kc := hs.Do(t, "GET", cs+"/keys/changes?from="+s0.NextBatch+"&to="+s1.NextBatch, guest.Token, nil)
		expect(t, kc, 200, "")
		if !slices.Contains(anyStrings(kc.JSON["changed"]), alice.UserID) {
			t.Fatalf("keys/changes: %s", kc)
		}
		// The guest's own upload shows it to alice (guests are listed in
		// others' device lists, G-46), and to itself.
		a0 := syncE2EE(t, hs, alice.Token, "")
		guest.setUp(t, hs, 1)
		a1 := syncE2EE(t, hs, alice.Token, "since="+a0.NextBatch)
		if !slices.Contains(a1.DeviceLists.Changed, guest.UserID) {
			t.Fatalf("alice does not see the guest's keys change: %+v", a1.DeviceLists)
		}
		// Nothing new: nothing changed.
		s2 := syncE2EE(t, hs, guest.Token, "since="+s1.NextBatch)
		if slices.Contains(s2.DeviceLists.Changed, alice.UserID) {
			t.Fatalf("alice reported again: %+v", s2.DeviceLists)
		}

		// A user who is not in a shared room is not reported.
		stranger := newCryptoDevice(t, hs.RegisterUser(t, "stranger"))
		stranger.setUp(t, hs, 1)
		// Carol joins: newly sharing a room counts as changed.
		carol := hs.RegisterUser(t, "carol")
		mustJoin(t, hs, carol.Token, room)
		s3 := syncE2EE(t, hs, guest.Token, "since="+s2.NextBatch)
		if !slices.Contains(s3.DeviceLists.Changed, carol.UserID) || slices.Contains(s3.DeviceLists.Changed, stranger.UserID) {
			t.Fatalf("after carol joined: %+v", s3.DeviceLists)
		}
		// Carol leaves: no room shared any more, so she is in left.
		expect(t, hs.Do(t, "POST", roomPath(room, "/leave"), carol.Token, map[string]any{}), 200, "")
		s4 := syncE2EE(t, hs, guest.Token, "since="+s3.NextBatch)
		if !slices.Contains(s4.DeviceLists.Left, carol.UserID) || slices.Contains(s4.DeviceLists.Changed, carol.UserID) {
			t.Fatalf("after carol left: %+v", s4.DeviceLists)
		}
		// The guest joins the stranger's room: the stranger is new to it.
		other := encryptedGuestRoom(t, hs, stranger.Token)
		mustJoin(t, hs, guest.Token, other)
		s5 := syncE2EE(t, hs, guest.Token, "since="+s4.NextBatch)
		if !slices.Contains(s5.DeviceLists.Changed, stranger.UserID) {
			t.Fatalf("after joining the stranger's room: %+v", s5.DeviceLists)
		}
		// ... and leaves it: the stranger is left, alice is not.
		expect(t, hs.Do(t, "POST", roomPath(other, "/leave"), guest.Token, map[string]any{}), 200, "")
		s6 := syncE2EE(t, hs, guest.Token, "since="+s5.NextBatch)
		if !slices.Contains(s6.DeviceLists.Left, stranger.UserID) || slices.Contains(s6.DeviceLists.Left, alice.UserID) {
			t.Fatalf("after leaving the stranger's room: %+v", s6.DeviceLists)
		}

		// Alice logs in a new device and deletes it: both are changes, and
		// the deleted device's keys are gone.
		second := newCryptoDevice(t, loginDevice(t, hs, aliceAcct, "SECOND"))
		second.setUp(t, hs, 2)
		s7 := syncE2EE(t, hs, guest.Token, "since="+s6.NextBatch)
		if !slices.Contains(s7.DeviceLists.Changed, alice.UserID) {
			t.Fatalf("after alice's new device: %+v", s7.DeviceLists)
		}
		r := hs.Do(t, "DELETE", cs+"/devices/SECOND", alice.Token, map[string]any{"auth": passwordAuth(alice.UserID, aliceAcct.Password, "")})
		expect(t, r, 200, "")
		s8 := syncE2EE(t, hs, guest.Token, "since="+s7.NextBatch)
		if !slices.Contains(s8.DeviceLists.Changed, alice.UserID) {
			t.Fatalf("after alice deleted a device: %+v", s8.DeviceLists)
		}
		q := hs.Do(t, "POST", cs+"/keys/query", guest.Token, map[string]any{"device_keys": map[string]any{alice.UserID: []any{}}})
		if devs := jsonPath(q.JSON, "device_keys", alice.UserID).(map[string]any); len(devs) != 1 || devs[alice.DeviceID] == nil {
			t.Fatalf("deleted device still listed: %s", q)
		}
		r = claim(t, hs, guest.Token, map[string]any{alice.UserID: map[string]any{"SECOND": "signed_curve25519"}})
		if len(r.JSON["one_time_keys"].(map[string]any)) != 0 {
			t.Fatalf("deleted device's keys still claimable: %s", r)
		}
		// Logging out is a change too.
		third := loginDevice(t, hs, aliceAcct, "THIRD")
		expect(t, hs.Do(t, "POST", cs+"/logout", third.Token, map[string]any{}), 200, "")
		s9 := syncE2EE(t, hs, guest.Token, "since="+s8.NextBatch)
		if !slices.Contains(s9.DeviceLists.Changed, alice.UserID) {
			t.Fatalf("after alice logged a device out: %+v", s9.DeviceLists)
		}
		// Renaming a device is one as well (others see the name).
		expect(t, hs.Do(t, "PUT", cs+"/devices/"+alice.DeviceID, alice.Token, map[string]any{"display_name": "laptop"}), 200, "")
		s10 := syncE2EE(t, hs, guest.Token, "since="+s9.NextBatch)
		if !slices.Contains(s10.DeviceLists.Changed, alice.UserID) {
			t.Fatalf("after alice renamed a device: %+v", s10.DeviceLists)
		}
	})
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func sendToDevice(t testing.TB, hs *testharness.Homeserver, token, typ, txn string, messages map[string]any) *testharness.Response {
	t.Helper()
	return hs.Do(t, "PUT", cs+"/sendToDevice/"+typ+"/"+txn, token, map[string]any{"messages": messages})
}

// G-47: to-device messages, idempotent, ordered, at most 100 a sync,
// deleted once acknowledged.
func TestToDeviceMessages_G47(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		aliceAcct := hs.RegisterUser(t, "alice")
		second := loginDevice(t, hs, aliceAcct, "SECOND")
		guest := hs.RegisterGuest(t)

		expect(t, sendToDevice(t, hs, "", "m.test", "t0", map[string]any{}), 401, "M_MISSING_TOKEN")
		expect(t, hs.Do(t, "PUT", cs+"/sendToDevice/m.test/t0", guest.Token, map[string]any{}), 400, "M_MISSING_PARAM")

		// The guest sends to one of alice's devices, then to all of them;
		// the same transaction again is ignored.
		expect(t, sendToDevice(t, hs, guest.Token, "m.test", "t1", map[string]any{aliceAcct.UserID: map[string]any{aliceAcct.DeviceID: map[string]any{"n": 1}}}), 200, "")
		expect(t, sendToDevice(t, hs, guest.Token, "m.test", "t1", map[string]any{aliceAcct.UserID: map[string]any{aliceAcct.DeviceID: map[string]any{"n": 1}}}), 200, "")
		expect(t, sendToDevice(t, hs, guest.Token, "m.test", "t2", map[string]any{aliceAcct.UserID: map[string]any{"*": map[string]any{"n": 2}}}), 200, "")
		// Messages to unknown devices and remote users are dropped.
		expect(t, sendToDevice(t, hs, guest.Token, "m.test", "t3", map[string]any{aliceAcct.UserID: map[string]any{"NOPE": map[string]any{"n": 3}},
			"@someone:elsewhere.example": map[string]any{"*": map[string]any{"n": 3}}}), 200, "")

		s1 := syncE2EE(t, hs, aliceAcct.Token, "")
		var got []float64
		for _, e := range s1.ToDevice.Events {
			if e.Type != "m.test" || e.Sender != guest.UserID {
				t.Fatalf("event: %+v", e)
			}
			got = append(got, e.Content["n"].(float64))
		}
		if !slices.Equal(got, []float64{1, 2}) {
			t.Fatalf("first device got %v", got)
		}
		// Until acknowledged (a sync from a later token), they stay.
		again := syncE2EE(t, hs, aliceAcct.Token, "")
		if len(again.ToDevice.Events) != 2 {
			t.Fatalf("messages gone before acknowledgement: %+v", again.ToDevice)
		}
		s2 := syncE2EE(t, hs, aliceAcct.Token, "since="+s1.NextBatch)
		if len(s2.ToDevice.Events) != 0 {
			t.Fatalf("acknowledged messages delivered again: %+v", s2.ToDevice)
		}
		sec := syncE2EE(t, hs, second.Token, "")
		if len(sec.ToDevice.Events) != 1 || sec.ToDevice.Events[0].Content["n"] != float64(2) {
			t.Fatalf("second device: %+v", sec.ToDevice)
		}

		// A long-poll wakes for a message.
		woken := make(chan e2eeSync, 1)
		go func() { woken <- syncE2EE(t, hs, aliceAcct.Token, "timeout=20000&since="+s2.NextBatch) }()
		time.Sleep(200 * time.Millisecond)
		expect(t, sendToDevice(t, hs, guest.Token, "m.wake", "t4", map[string]any{aliceAcct.UserID: map[string]any{aliceAcct.DeviceID: map[string]any{}}}), 200, "")
		var s3 e2eeSync
		select {
		case s3 = <-woken:
		case <-time.After(10 * time.Second):
			t.Fatal("long-poll not woken by a to-device message")
		}
		if len(s3.ToDevice.Events) != 1 || s3.ToDevice.Events[0].Type != "m.wake" {
			t.Fatalf("woken sync: %+v", s3.ToDevice)
		}

		// 150 messages arrive 100, then 50, in order; the guest gets
		// alice's reply too.
		for i := range 150 {
			expect(t, sendToDevice(t, hs, aliceAcct.Token, "m.seq", fmt.Sprintf("seq%d", i), map[string]any{guest.UserID: map[string]any{guest.DeviceID: map[string]any{"i": i}}}), 200, "")
		}
		g1 := syncE2EE(t, hs, guest.Token, "")
		g2 := syncE2EE(t, hs, guest.Token, "since="+g1.NextBatch)
		g3 := syncE2EE(t, hs, guest.Token, "since="+g2.NextBatch)
		if len(g1.ToDevice.Events) != 100 || len(g2.ToDevice.Events) != 50 || len(g3.ToDevice.Events) != 0 {
			t.Fatalf("batches of %d, %d, %d", len(g1.ToDevice.Events), len(g2.ToDevice.Events), len(g3.ToDevice.Events))
		}
		for i, e := range append(g1.ToDevice.Events, g2.ToDevice.Events...) {
			if e.Content["i"] != float64(i) || e.Sender != aliceAcct.UserID {
				t.Fatalf("message %d out of order: %+v", i, e)
			}
		}
		// Retrying a sync from the capped response's token does not lose
		// the rest.
		if r := syncE2EE(t, hs, guest.Token, "since="+g1.NextBatch); len(r.ToDevice.Events) != 0 {
			t.Fatalf("acknowledged messages came back: %d", len(r.ToDevice.Events))
		}

		// A deleted device's pending messages go with it.
		expect(t, sendToDevice(t, hs, guest.Token, "m.test", "t5", map[string]any{aliceAcct.UserID: map[string]any{"SECOND": map[string]any{}}}), 200, "")
		expect(t, hs.Do(t, "POST", cs+"/logout", second.Token, map[string]any{}), 200, "")
		again2 := loginDevice(t, hs, aliceAcct, "SECOND")
		if s := syncE2EE(t, hs, again2.Token, ""); len(s.ToDevice.Events) != 0 {
			t.Fatalf("messages survived the device: %+v", s.ToDevice)
		}
	})
}

// crossSigningSet is a user's master, self-signing and user-signing keys.
type crossSigningSet struct {
	userID                    string
	masterPub, sskPub         ed25519.PublicKey
	masterPriv, sskPriv       ed25519.PrivateKey
	uskPub                    ed25519.PublicKey
	uskPriv                   ed25519.PrivateKey
	master, ssk, usk          map[string]any
	masterID, sskID, uskID    string
	masterKID, sskKID, uskKID string
}

func newCrossSigning(t testing.TB, userID string) *crossSigningSet {
	c := &crossSigningSet{userID: userID}
	c.masterPub, c.masterPriv = newKey(t)
	c.sskPub, c.sskPriv = newKey(t)
	c.uskPub, c.uskPriv = newKey(t)
	c.masterID, c.sskID, c.uskID = b64(c.masterPub), b64(c.sskPub), b64(c.uskPub)
	c.masterKID, c.sskKID, c.uskKID = "ed25519:"+c.masterID, "ed25519:"+c.sskID, "ed25519:"+c.uskID
	c.master = signObj(t, map[string]any{"user_id": userID, "usage": []any{"master"}, "keys": map[string]any{c.masterKID: c.masterID}}, userID, c.masterKID, c.masterPriv)
	c.ssk = signObj(t, map[string]any{"user_id": userID, "usage": []any{"self_signing"}, "keys": map[string]any{c.sskKID: c.sskID}}, userID, c.masterKID, c.masterPriv)
	c.usk = signObj(t, map[string]any{"user_id": userID, "usage": []any{"user_signing"}, "keys": map[string]any{c.uskKID: c.uskID}}, userID, c.masterKID, c.masterPriv)
	return c
}

func (c *crossSigningSet) body() map[string]any {
	return map[string]any{"master_key": c.master, "self_signing_key": c.ssk, "user_signing_key": c.usk}
}

// copyObj deep-copies a JSON object.
func copyObj(t testing.TB, v any) map[string]any {
	raw, _ := json.Marshal(v)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// G-48: cross-signing keys and signatures, not for guests.
func TestCrossSigning_G48(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		aliceAcct := hs.RegisterUser(t, "alice")
		alice := newCryptoDevice(t, aliceAcct)
		alice.setUp(t, hs, 1)
		bobAcct := hs.RegisterUser(t, "bob")
		guest := hs.RegisterGuest(t)
		const upload = cs + "/keys/device_signing/upload"
		const sigUpload = cs + "/keys/signatures/upload"

		expect(t, hs.Do(t, "POST", upload, guest.Token, map[string]any{}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "POST", sigUpload, guest.Token, map[string]any{}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "POST", upload, "", map[string]any{}), 401, "M_MISSING_TOKEN")

		// A self-signing key not signed by the master key is refused.
		cs1 := newCrossSigning(t, aliceAcct.UserID)
		badSSK := copyObj(t, cs1.ssk)
		delete(badSSK, "signatures")
		badSSK = signObj(t, badSSK, aliceAcct.UserID, cs1.masterKID, cs1.sskPriv)
		expect(t, hs.Do(t, "POST", upload, alice.Token, map[string]any{"master_key": cs1.master, "self_signing_key": badSSK}), 400, "M_INVALID_PARAM")
		wrongUser := newCrossSigning(t, bobAcct.UserID)
		expect(t, hs.Do(t, "POST", upload, alice.Token, map[string]any{"master_key": wrongUser.master}), 400, "M_INVALID_PARAM")

		// The first upload needs no password (no master key yet).
		expect(t, hs.Do(t, "POST", upload, alice.Token, cs1.body()), 200, "")
		// The same keys again need none either; new ones do.
		expect(t, hs.Do(t, "POST", upload, alice.Token, cs1.body()), 200, "")
		cs2 := newCrossSigning(t, aliceAcct.UserID)
		r := hs.Do(t, "POST", upload, alice.Token, cs2.body())
		expect(t, r, 401, "")
		if r.Str("session") == "" || !slices.ContainsFunc(anyFlows(r), func(f string) bool { return f == "m.login.password" }) {
			t.Fatalf("UIA challenge: %s", r)
		}
		withAuth := cs2.body()
		withAuth["auth"] = passwordAuth(aliceAcct.UserID, "wrong", r.Str("session"))
		expect(t, hs.Do(t, "POST", upload, alice.Token, withAuth), 401, "M_FORBIDDEN")
		// Back to the first set, with the password this time.
		withAuth = cs1.body()
		withAuth["auth"] = passwordAuth(aliceAcct.UserID, aliceAcct.Password, r.Str("session"))
		expect(t, hs.Do(t, "POST", upload, alice.Token, withAuth), 200, "")

		// Bob has his own keys, uploaded at the pre-v1.1 path older
		// clients use (guests are refused there too).
		const unstableUpload = "/_matrix/client/unstable/keys/device_signing/upload"
		expect(t, hs.Do(t, "POST", unstableUpload, guest.Token, map[string]any{}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		bobCS := newCrossSigning(t, bobAcct.UserID)
		expect(t, hs.Do(t, "POST", unstableUpload, bobAcct.Token, bobCS.body()), 200, "")

		// Alice signs her device with her self-signing key and her master
		// key with her device; bob signs alice's master key with his
		// user-signing key. A forged signature fails alone.
		devKeys := hs.Do(t, "POST", cs+"/keys/query", alice.Token, map[string]any{"device_keys": map[string]any{aliceAcct.UserID: []any{}}})
		dev := copyObj(t, jsonPath(devKeys.JSON, "device_keys", aliceAcct.UserID, alice.DeviceID))
		delete(dev, "unsigned")
		dev = signObj(t, dev, aliceAcct.UserID, cs1.sskKID, cs1.sskPriv)
		master := signObj(t, copyObj(t, cs1.master), aliceAcct.UserID, alice.keyID(), alice.priv)
		forged := signObj(t, copyObj(t, cs1.master), aliceAcct.UserID, "ed25519:NOTADEVICE", alice.priv)
		r = hs.Do(t, "POST", sigUpload, alice.Token, map[string]any{aliceAcct.UserID: map[string]any{alice.DeviceID: dev, cs1.masterID: master}})
		expect(t, r, 200, "")
		if f := r.JSON["failures"].(map[string]any); len(f) != 0 {
			t.Fatalf("failures: %s", r)
		}
		r = hs.Do(t, "POST", sigUpload, alice.Token, map[string]any{aliceAcct.UserID: map[string]any{cs1.masterID: forged, "NODEVICE": dev}})
		expect(t, r, 200, "")
		if jsonPath(r.JSON, "failures", aliceAcct.UserID, cs1.masterID, "errcode") != "M_INVALID_SIGNATURE" ||
			jsonPath(r.JSON, "failures", aliceAcct.UserID, "NODEVICE", "errcode") != "M_NOT_FOUND" {
			t.Fatalf("failures: %s", r)
		}
		bobSig := signObj(t, copyObj(t, cs1.master), bobAcct.UserID, bobCS.uskKID, bobCS.uskPriv)
		r = hs.Do(t, "POST", sigUpload, bobAcct.Token, map[string]any{aliceAcct.UserID: map[string]any{cs1.masterID: bobSig}})
		expect(t, r, 200, "")
		if f := r.JSON["failures"].(map[string]any); len(f) != 0 {
			t.Fatalf("bob's signature failed: %s", r)
		}

		// Alice sees all her keys with every signature; bob sees alice's
		// master and self-signing keys (with his signature) but not her
		// user-signing key; a guest sees no one's signature but alice's.
		query := func(token string) *testharness.Response {
			r := hs.Do(t, "POST", cs+"/keys/query", token, map[string]any{"device_keys": map[string]any{aliceAcct.UserID: []any{}}})
			expect(t, r, 200, "")
			return r
		}
		qa := query(alice.Token)
		if !verifyObj(t, jsonPath(qa.JSON, "device_keys", aliceAcct.UserID, alice.DeviceID), aliceAcct.UserID, cs1.sskKID, cs1.sskPub) ||
			!verifyObj(t, jsonPath(qa.JSON, "device_keys", aliceAcct.UserID, alice.DeviceID), aliceAcct.UserID, alice.keyID(), alice.pub) {
			t.Fatalf("device signatures: %s", qa)
		}
		mk := jsonPath(qa.JSON, "master_keys", aliceAcct.UserID)
		if !verifyObj(t, mk, aliceAcct.UserID, cs1.masterKID, cs1.masterPub) || !verifyObj(t, mk, aliceAcct.UserID, alice.keyID(), alice.pub) {
			t.Fatalf("master key signatures: %s", qa)
		}
		if jsonPath(qa.JSON, "self_signing_keys", aliceAcct.UserID) == nil || jsonPath(qa.JSON, "user_signing_keys", aliceAcct.UserID) == nil {
			t.Fatalf("alice's own keys: %s", qa)
		}
		if jsonPath(mk, "signatures", bobAcct.UserID) != nil {
			t.Fatalf("bob's user-signing signature shown to alice: %s", qa)
		}
		qb := query(bobAcct.Token)
		if !verifyObj(t, jsonPath(qb.JSON, "master_keys", aliceAcct.UserID), bobAcct.UserID, bobCS.uskKID, bobCS.uskPub) {
			t.Fatalf("bob's signature on alice's master key: %s", qb)
		}
		if jsonPath(qb.JSON, "self_signing_keys", aliceAcct.UserID) == nil || jsonPath(qb.JSON, "user_signing_keys", aliceAcct.UserID) != nil {
			t.Fatalf("bob's view of alice's keys: %s", qb)
		}
		qg := query(guest.Token)
		if jsonPath(qg.JSON, "master_keys", aliceAcct.UserID, "signatures", bobAcct.UserID) != nil {
			t.Fatalf("guest sees bob's signature: %s", qg)
		}
		if f, ok := qg.JSON["failures"].(map[string]any); !ok || len(f) != 0 {
			t.Fatalf("failures: %s", qg)
		}
	})
}

func anyFlows(r *testharness.Response) []string {
	var out []string
	flows, _ := r.JSON["flows"].([]any)
	for _, f := range flows {
		out = append(out, anyStrings(jsonPath(f, "stages"))...)
	}
	return out
}

func backupKey(fmi, fc int, verified bool, tag string) map[string]any {
	return map[string]any{"first_message_index": fmi, "forwarded_count": fc, "is_verified": verified,
		"session_data": map[string]any{"ephemeral": "eph", "ciphertext": tag, "mac": "mac"}}
}

// Room key backup: versions, keys, the merge rules, etag and count; not
// for guests (G-48).
func TestRoomKeyBackup_G48(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		guest := hs.RegisterGuest(t)
		const rk = cs + "/room_keys"

		expect(t, hs.Do(t, "GET", rk+"/version", alice.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", rk+"/version", guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "GET", rk+"/version", "", nil), 401, "M_MISSING_TOKEN")
		expect(t, hs.Do(t, "POST", rk+"/version", alice.Token, map[string]any{"auth_data": map[string]any{}}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "POST", rk+"/version", alice.Token, map[string]any{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2"}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "POST", rk+"/version", alice.Token, map[string]any{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": []any{1}}), 400, "M_BAD_JSON")

		const alg = "m.megolm_backup.v1.curve25519-aes-sha2"
		r := hs.Do(t, "POST", rk+"/version", alice.Token, map[string]any{"algorithm": alg, "auth_data": map[string]any{"public_key": "abc"}})
		expect(t, r, 200, "")
		v1 := r.Str("version")
		info := hs.Do(t, "GET", rk+"/version", alice.Token, nil)
		expect(t, info, 200, "")
		if info.Str("version") != v1 || info.Str("algorithm") != alg || info.JSON["count"] != float64(0) || info.Str("etag") == "" ||
			jsonPath(info.JSON, "auth_data", "public_key") != "abc" {
			t.Fatalf("backup info: %s", info)
		}
		expect(t, hs.Do(t, "GET", rk+"/version/"+v1, alice.Token, nil), 200, "")
		expect(t, hs.Do(t, "GET", rk+"/version/999", alice.Token, nil), 404, "M_NOT_FOUND")
		// Another user has no backup.
		bob := hs.RegisterUser(t, "bob")
		expect(t, hs.Do(t, "GET", rk+"/version/"+v1, bob.Token, nil), 404, "M_NOT_FOUND")

		// auth_data can change; the algorithm cannot.
		expect(t, hs.Do(t, "PUT", rk+"/version/"+v1, alice.Token, map[string]any{"algorithm": alg, "auth_data": map[string]any{"public_key": "def"}}), 200, "")
		expect(t, hs.Do(t, "PUT", rk+"/version/"+v1, alice.Token, map[string]any{"algorithm": "other", "auth_data": map[string]any{}}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", rk+"/version/"+v1, alice.Token, map[string]any{"algorithm": alg, "auth_data": map[string]any{}, "version": "77"}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", rk+"/version/999", alice.Token, map[string]any{"algorithm": alg, "auth_data": map[string]any{}}), 404, "M_NOT_FOUND")

		// Keys: all three PUT forms.
		const room = "!room:localhost"
		esc := testharness.PathEscape(room)
		expect(t, hs.Do(t, "PUT", rk+"/keys", alice.Token, map[string]any{"rooms": map[string]any{}}), 400, "M_MISSING_PARAM")
		r = hs.Do(t, "PUT", rk+"/keys?version="+v1, alice.Token, map[string]any{"rooms": map[string]any{room: map[string]any{"sessions": map[string]any{
			"s1": backupKey(5, 1, false, "s1-a"), "s2": backupKey(0, 0, false, "s2-a"),
		}}}})
		expect(t, r, 200, "")
		etag1 := r.Str("etag")
		if r.JSON["count"] != float64(2) || etag1 == "" {
			t.Fatalf("put keys: %s", r)
		}
		r = hs.Do(t, "PUT", rk+"/keys/"+esc+"?version="+v1, alice.Token, map[string]any{"sessions": map[string]any{"s3": backupKey(0, 0, true, "s3-a")}})
		expect(t, r, 200, "")
		if r.JSON["count"] != float64(3) || r.Str("etag") == etag1 {
			t.Fatalf("put room keys: %s", r)
		}
		put := func(session string, key map[string]any) *testharness.Response {
			return hs.Do(t, "PUT", rk+"/keys/"+esc+"/"+session+"?version="+v1, alice.Token, key)
		}
		cipher := func(session string) string {
			r := hs.Do(t, "GET", rk+"/keys/"+esc+"/"+session+"?version="+v1, alice.Token, nil)
			expect(t, r, 200, "")
			return jsonPath(r.JSON, "session_data", "ciphertext").(string)
		}
		// Merge rules: verified beats unverified; then the lower
		// first_message_index; then the lower forwarded_count; a tie keeps
		// the stored key.
		for _, step := range []struct {
			key  map[string]any
			want string
			why  string
		}{
			{backupKey(0, 0, false, "s1-b"), "s1-b", "lower first_message_index should win"},
			{backupKey(0, 2, false, "s1-c"), "s1-b", "higher forwarded_count should lose"},
			{backupKey(9, 9, true, "s1-d"), "s1-d", "verified should win"},
			{backupKey(0, 0, false, "s1-e"), "s1-d", "unverified should not replace verified"},
			{backupKey(9, 9, true, "s1-f"), "s1-d", "a tie should keep the stored key"},
			{backupKey(9, 8, true, "s1-g"), "s1-g", "lower forwarded_count should win"},
		} {
			expect(t, put("s1", step.key), 200, "")
			if c := cipher("s1"); c != step.want {
				t.Fatalf("%s: stored %s", step.why, c)
			}
		}
		expect(t, put("s1", map[string]any{"first_message_index": 1}), 400, "M_BAD_JSON")

		// Reads: everything, one room, one session.
		all := hs.Do(t, "GET", rk+"/keys?version="+v1, alice.Token, nil)
		expect(t, all, 200, "")
		if len(jsonPath(all.JSON, "rooms", room, "sessions").(map[string]any)) != 3 {
			t.Fatalf("all keys: %s", all)
		}
		one := hs.Do(t, "GET", rk+"/keys/"+esc+"?version="+v1, alice.Token, nil)
		if one.Status != 200 || len(jsonPath(one.JSON, "sessions").(map[string]any)) != 3 {
			t.Fatalf("room keys: %s", one)
		}
		none := hs.Do(t, "GET", rk+"/keys/"+testharness.PathEscape("!other:localhost")+"?version="+v1, alice.Token, nil)
		if none.Status != 200 || len(none.JSON["sessions"].(map[string]any)) != 0 {
			t.Fatalf("room without keys: %s", none)
		}
		expect(t, hs.Do(t, "GET", rk+"/keys/"+esc+"/nosuch?version="+v1, alice.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", rk+"/keys?version=999", alice.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", rk+"/keys", alice.Token, nil), 400, "M_MISSING_PARAM")
		info = hs.Do(t, "GET", rk+"/version", alice.Token, nil)
		if info.JSON["count"] != float64(3) {
			t.Fatalf("count: %s", info)
		}

		// A newer version takes over: writes to the old one are refused
		// with the current version named.
		r = hs.Do(t, "POST", rk+"/version", alice.Token, map[string]any{"algorithm": alg, "auth_data": map[string]any{"public_key": "v2"}})
		expect(t, r, 200, "")
		v2 := r.Str("version")
		if v2 == v1 {
			t.Fatal("version reused")
		}
		r = put("s9", backupKey(0, 0, false, "x"))
		expect(t, r, 403, "M_WRONG_ROOM_KEYS_VERSION")
		if r.Str("current_version") != v2 {
			t.Fatalf("current_version: %s", r)
		}
		expect(t, hs.Do(t, "PUT", rk+"/keys?version=999", alice.Token, map[string]any{"rooms": map[string]any{}}), 404, "M_NOT_FOUND")
		info = hs.Do(t, "GET", rk+"/version", alice.Token, nil)
		if info.Str("version") != v2 || info.JSON["count"] != float64(0) {
			t.Fatalf("current version: %s", info)
		}

		// Deletes: one session, one room, everything; then the version.
		r = hs.Do(t, "DELETE", rk+"/keys/"+esc+"/s1?version="+v1, alice.Token, nil)
		if r.Status != 200 || r.JSON["count"] != float64(2) {
			t.Fatalf("delete session: %s", r)
		}
		r = hs.Do(t, "DELETE", rk+"/keys/"+esc+"?version="+v1, alice.Token, nil)
		if r.Status != 200 || r.JSON["count"] != float64(0) {
			t.Fatalf("delete room: %s", r)
		}
		r = hs.Do(t, "DELETE", rk+"/keys?version="+v1, alice.Token, nil)
		expect(t, r, 200, "")
		expect(t, hs.Do(t, "DELETE", rk+"/version/"+v2, alice.Token, nil), 200, "")
		expect(t, hs.Do(t, "DELETE", rk+"/version/"+v2, alice.Token, nil), 200, "")
		expect(t, hs.Do(t, "DELETE", rk+"/version/999", alice.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", rk+"/version/"+v2, alice.Token, nil), 404, "M_NOT_FOUND")
		// v1 is the newest live version again.
		info = hs.Do(t, "GET", rk+"/version", alice.Token, nil)
		if info.Str("version") != v1 {
			t.Fatalf("after deleting v2: %s", info)
		}
		expect(t, hs.Do(t, "DELETE", rk+"/version/"+v1, alice.Token, nil), 200, "")
		expect(t, hs.Do(t, "GET", rk+"/version", alice.Token, nil), 404, "M_NOT_FOUND")
		r = hs.Do(t, "POST", rk+"/version", alice.Token, map[string]any{"algorithm": alg, "auth_data": map[string]any{}})
		if r.Str("version") == v1 || r.Str("version") == v2 {
			t.Fatalf("deleted version number reused: %s", r)
		}
	})
}

// With e2ee.verify_key_signatures off, placeholder keys with a fake
// self-signature are stored and served as they came (the leniency of
// Synapse and Dendrite); the other checks on device keys still apply.
// By default the same upload is refused.
func TestKeysUnverifiedWhenConfigured_G45(t *testing.T) {
	placeholder := func(acct testharness.Account) map[string]any {
		return map[string]any{
			"user_id": acct.UserID, "device_id": acct.DeviceID,
			"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
			"keys": map[string]any{
				"curve25519:" + acct.DeviceID: "curve25519+key",
				"ed25519:" + acct.DeviceID:    "ed25519+key",
			},
			"signatures": map[string]any{acct.UserID: map[string]any{"ed25519:" + acct.DeviceID: "self+signature"}},
		}
	}
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		strict := testharness.StartBackend(t, backend)
		alice := strict.RegisterUser(t, "alice")
		expect(t, uploadKeys(t, strict, alice.Token, map[string]any{"device_keys": placeholder(alice)}), 400, "M_INVALID_PARAM")

		cfg := testharness.Config(t, backend)
		cfg.E2EE.VerifyKeySignatures = false
		lenient := testharness.Start(t, cfg)
		bob := lenient.RegisterUser(t, "bob")
		carol := lenient.RegisterUser(t, "carol")
		r := uploadKeys(t, lenient, bob.Token, map[string]any{
			"device_keys":   placeholder(bob),
			"one_time_keys": map[string]any{"signed_curve25519:AAAA": map[string]any{"key": "otk", "signatures": map[string]any{bob.UserID: map[string]any{"ed25519:" + bob.DeviceID: "fake"}}}},
		})
		expect(t, r, 200, "")
		if n := jsonPath(r.JSON, "one_time_key_counts", "signed_curve25519"); n != float64(1) {
			t.Fatalf("one-time key counts: %s", r)
		}
		q := lenient.Do(t, "POST", cs+"/keys/query", carol.Token, map[string]any{"device_keys": map[string]any{bob.UserID: []string{}}})
		expect(t, q, 200, "")
		if k := jsonPath(q.JSON, "device_keys", bob.UserID, bob.DeviceID, "keys", "ed25519:"+bob.DeviceID); k != "ed25519+key" {
			t.Fatalf("query: %s", q)
		}
		// Without the device's own ed25519 key there is nothing to check.
		dave := lenient.RegisterUser(t, "dave")
		keyless := placeholder(dave)
		keyless["keys"] = map[string]any{"ed25519:test": "c3op6BJi8aUnDGA541Q6TbTPmbiy1GqGv-zzXDQM9Us"}
		keyless["signatures"] = map[string]any{}
		expect(t, uploadKeys(t, lenient, dave.Token, map[string]any{"device_keys": keyless}), 200, "")
		// Still refused: keys for another device or user.
		other := placeholder(bob)
		other["device_id"] = "SOMEOTHER"
		expect(t, uploadKeys(t, lenient, bob.Token, map[string]any{"device_keys": other}), 400, "M_INVALID_PARAM")
		expect(t, uploadKeys(t, lenient, bob.Token, map[string]any{"device_keys": placeholder(carol)}), 400, "M_INVALID_PARAM")
	})
}

// New master or self-signing keys are a device-list change for everyone
// who shares a room; a new user-signing key only for its owner, the only
// one who can read it (G-46, G-48).
func TestUserSigningKeyChangeIsTheOwnersOnly_G46_G48(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, room)
		a0 := syncE2EE(t, hs, alice.Token, "")
		b0 := syncE2EE(t, hs, bob.Token, "")

		keys := newCrossSigning(t, alice.UserID)
		expect(t, hs.Do(t, "POST", cs+"/keys/device_signing/upload", alice.Token, keys.body()), 200, "")
		b1 := syncE2EE(t, hs, bob.Token, "since="+b0.NextBatch)
		if !slices.Contains(b1.DeviceLists.Changed, alice.UserID) {
			t.Fatalf("bob was not told of alice's new master key: %v", b1.DeviceLists)
		}
		a1 := syncE2EE(t, hs, alice.Token, "since="+a0.NextBatch)

		pub, _ := newKey(t)
		usk := signObj(t, map[string]any{"user_id": alice.UserID, "usage": []any{"user_signing"},
			"keys": map[string]any{"ed25519:" + b64(pub): b64(pub)}}, alice.UserID, keys.masterKID, keys.masterPriv)
		r := hs.Do(t, "POST", cs+"/keys/device_signing/upload", alice.Token, map[string]any{"user_signing_key": usk})
		expect(t, r, 401, "")
		expect(t, hs.Do(t, "POST", cs+"/keys/device_signing/upload", alice.Token, map[string]any{
			"user_signing_key": usk, "auth": passwordAuth(alice.UserID, alice.Password, r.Str("session")),
		}), 200, "")
		if b2 := syncE2EE(t, hs, bob.Token, "timeout=0&since="+b1.NextBatch); slices.Contains(b2.DeviceLists.Changed, alice.UserID) {
			t.Fatalf("bob was told of alice's user-signing key: %v", b2.DeviceLists)
		}
		if a2 := syncE2EE(t, hs, alice.Token, "since="+a1.NextBatch); !slices.Contains(a2.DeviceLists.Changed, alice.UserID) {
			t.Fatalf("alice was not told of her own new user-signing key: %v", a2.DeviceLists)
		}
	})
}

// A backup whose auth_data is a string (SyTest's and some clients') is
// kept and answered as given, as Synapse does, and so is a key's string
// session_data; a body version given as a number is taken; other
// non-objects are still refused.
func TestRoomKeyBackupStringAuthData(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		const rk = cs + "/room_keys"
		const alg = "m.megolm_backup.v1.curve25519-aes-sha2"
		r := hs.Do(t, "POST", rk+"/version", alice.Token, map[string]any{"algorithm": alg, "auth_data": "anything"})
		expect(t, r, 200, "")
		v := r.Str("version")
		if info := hs.Do(t, "GET", rk+"/version/"+v, alice.Token, nil); info.Status != 200 || info.Str("auth_data") != "anything" {
			t.Fatalf("backup with a string auth_data: %s", info)
		}
		expect(t, hs.Do(t, "PUT", rk+"/version/"+v, alice.Token, map[string]any{"algorithm": alg, "auth_data": "changed"}), 200, "")
		if info := hs.Do(t, "GET", rk+"/version", alice.Token, nil); info.Str("auth_data") != "changed" {
			t.Fatalf("after the update: %s", info)
		}
		// The version in the body as a number, as some clients send it.
		n, _ := strconv.Atoi(v)
		expect(t, hs.Do(t, "PUT", rk+"/version/"+v, alice.Token, map[string]any{"algorithm": alg, "auth_data": "again", "version": n}), 200, "")
		expect(t, hs.Do(t, "PUT", rk+"/version/"+v, alice.Token, map[string]any{"algorithm": alg, "auth_data": "again", "version": n + 1}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", rk+"/version/"+v, alice.Token, map[string]any{"algorithm": alg, "auth_data": "again", "version": []int{n}}), 400, "M_BAD_JSON")
		// A key whose session_data is a string is kept as given.
		key := map[string]any{"first_message_index": 3, "forwarded_count": 0, "is_verified": false, "session_data": "anopaquestring"}
		expect(t, hs.Do(t, "PUT", rk+"/keys/!abcd:localhost/1234?version="+v, alice.Token, key), 200, "")
		if got := hs.Do(t, "GET", rk+"/keys/!abcd:localhost/1234?version="+v, alice.Token, nil); got.Str("session_data") != "anopaquestring" {
			t.Fatalf("key with a string session_data: %s", got)
		}
		expect(t, hs.Do(t, "POST", rk+"/version", alice.Token, map[string]any{"algorithm": alg, "auth_data": 7}), 400, "M_BAD_JSON")
	})
}

// One-time keys are claimed in upload order (MSC4225), whatever their
// IDs; uploading a key again under its ID is accepted when only its
// signatures differ, refused when the key itself does.
func TestOneTimeKeysClaimedInUploadOrder(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := newCryptoDevice(t, hs.RegisterUser(t, "alice"))
		bob := hs.RegisterUser(t, "bob")
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"device_keys": alice.deviceKeys(t)}), 200, "")
		signed := func() map[string]any {
			k, _ := newKey(t)
			return signObj(t, map[string]any{"key": b64(k)}, alice.UserID, alice.keyID(), alice.priv)
		}
		// Uploaded later but with IDs that sort first.
		first := signed()
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"one_time_keys": map[string]any{"signed_curve25519:ZZZ": first}}), 200, "")
		second := signed()
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"one_time_keys": map[string]any{"signed_curve25519:AAA": second}}), 200, "")

		// The same key again with other signatures (one more): accepted,
		// kept once.
		raw, _ := json.Marshal(second)
		var resigned map[string]any
		_ = json.Unmarshal(raw, &resigned)
		resigned["signatures"].(map[string]any)[alice.UserID].(map[string]any)["ed25519:EXTRA"] = "c2lnbmVkIGFnYWlu"
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"one_time_keys": map[string]any{"signed_curve25519:AAA": resigned}}), 200, "")
		// Another key under a used ID: refused.
		other := signed()
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"one_time_keys": map[string]any{"signed_curve25519:AAA": other}}), 400, "M_INVALID_PARAM")

		req := map[string]any{alice.UserID: map[string]any{alice.DeviceID: "signed_curve25519"}}
		var got []string
		for range 2 {
			r := claim(t, hs, bob.Token, req)
			expect(t, r, 200, "")
			got = append(got, claimedKeyID(t, r, alice.UserID, alice.DeviceID))
		}
		if !slices.Equal(got, []string{"signed_curve25519:ZZZ", "signed_curve25519:AAA"}) {
			t.Fatalf("claimed %v, want the first upload's key first", got)
		}
	})
}
