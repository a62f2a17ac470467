package integration

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/proofofwork"
	"foyer/internal/testharness"
)

// The human checks of guest registration and guest-link redemption
// (guest_access.require_captcha, guest_access.proof_of_work), and the
// captcha of named-guest registration and guest upgrades
// (registration_require_captcha): the spec's "captchas for guest
// registration" (G-10), which with either switch on departs from G-5 by
// the operator's choice. Guest registration without a check stays the
// spec's (G-5): captcha_test.go's TestCaptchaRegistration.

const (
	stageCaptcha = "m.login.recaptcha"
	stagePoW     = "foyer.login.proof_of_work"
)

// uiaChallenge is a 401 of user-interactive auth.
type uiaChallenge struct {
	Flows []struct {
		Stages []string `json:"stages"`
	} `json:"flows"`
	Params    map[string]map[string]any `json:"params"`
	Session   string                    `json:"session"`
	Completed []string                  `json:"completed"`
}

func readChallenge(t *testing.T, r *testharness.Response) uiaChallenge {
	t.Helper()
	if r.Status != 401 {
		t.Fatalf("want a 401 challenge: %s", r)
	}
	var c uiaChallenge
	if err := json.Unmarshal(r.Raw, &c); err != nil || c.Session == "" {
		t.Fatalf("not a UIA challenge: %s", r)
	}
	return c
}

func (c uiaChallenge) stages() string {
	var flows []string
	for _, f := range c.Flows {
		flows = append(flows, strings.Join(f.Stages, ","))
	}
	return strings.Join(flows, " | ")
}

// powAuth solves the challenge's proof of work.
func (c uiaChallenge) powAuth(t *testing.T) map[string]any {
	t.Helper()
	p := c.Params[stagePoW]
	token, _ := p["challenge"].(string)
	bits, _ := p["bits"].(float64)
	if token == "" || bits == 0 || p["algorithm"] != "sha256" {
		t.Fatalf("proof-of-work params: %v", p)
	}
	if exp, _ := p["expires_at"].(float64); int64(exp) <= time.Now().UnixMilli() {
		t.Fatalf("challenge already expired: %v", p)
	}
	return map[string]any{"type": stagePoW, "session": c.Session, "challenge": token, "nonce": proofofwork.Solve(token, int(bits))}
}

func captchaAuth(session, response string) map[string]any {
	return map[string]any{"type": stageCaptcha, "session": session, "response": response}
}

// humanCheckConfig switches on the guest checks asked for, with a fake
// captcha provider at verifyURL.
func humanCheckConfig(t *testing.T, backend string, captchaURL string, pow bool) config.Config {
	cfg := testharness.Config(t, backend)
	cfg.Outbound.AllowPrivateAddresses = true
	if captchaURL != "" {
		cfg.GuestAccess.RequireCaptcha = true
		cfg.Captcha = config.Captcha{Provider: config.CaptchaTurnstile, SiteKey: "site-key-2", Secret: "captcha-secret",
			VerifyURL: captchaURL, Timeout: 300 * time.Millisecond}
	}
	if pow {
		cfg.GuestAccess.ProofOfWork = true
		cfg.GuestAccess.ProofOfWorkBits = 8
	}
	return cfg
}

// challengeMetric reads foyer_challenges_<kind>_total for stage (and
// reason, for failed).
func challengeMetric(t *testing.T, hs *testharness.Homeserver, kind, stage, reason string) float64 {
	t.Helper()
	labels := `stage="` + stage + `"`
	if reason != "" {
		labels = `reason="` + reason + `",` + labels
	}
	m := hs.Do(t, "GET", "/metrics", "", nil)
	match := regexp.MustCompile(`(?m)^foyer_challenges_` + kind + `_total\{` + regexp.QuoteMeta(labels) + `\} (\S+)$`).FindStringSubmatch(string(m.Raw))
	if match == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(match[1], 64)
	return v
}

// Guest registration with the captcha on: 401 with the captcha stage and
// its public key; a refused answer, then a solved one; the answer again
// for a repeated request of the finished session; user registration keeps
// its own flows.
func TestGuestRegistrationCaptcha(t *testing.T) {
	provider := &fakeCaptchaProvider{}
	fake := httptest.NewServer(provider)
	defer fake.Close()
	hs := testharness.Start(t, humanCheckConfig(t, "sqlite", fake.URL, false))

	guestReg := cs + "/register?kind=guest"
	c := readChallenge(t, hs.Do(t, "POST", guestReg, "", map[string]any{"initial_device_display_name": "web"}))
	if c.stages() != stageCaptcha || c.Params[stageCaptcha]["public_key"] != "site-key-2" {
		t.Fatalf("challenge: %+v", c)
	}
	r := hs.Do(t, "POST", guestReg, "", map[string]any{"auth": captchaAuth(c.Session, "forged")})
	expect(t, r, 401, "M_UNAUTHORIZED")
	if live := gmLiveGuests(t, hs); live != 0 {
		t.Fatalf("%d guests after a refused captcha", live)
	}
	// An auth dict of another stage is not accepted in its place.
	expect(t, hs.Do(t, "POST", guestReg, "", map[string]any{"auth": map[string]any{"type": "m.login.dummy", "session": c.Session}}), 401, "M_UNRECOGNIZED")

	r = hs.Do(t, "POST", guestReg, "", map[string]any{"initial_device_display_name": "web", "auth": captchaAuth(c.Session, "solved")})
	expect(t, r, 200, "")
	g := testharness.Account{UserID: r.Str("user_id"), Token: r.Str("access_token")}
	who := hs.Do(t, "GET", cs+"/account/whoami", g.Token, nil)
	expect(t, who, 200, "")
	if who.JSON["is_guest"] != true {
		t.Fatalf("whoami: %s", who)
	}
	if f := provider.lastForm(); f["response"] != "solved" || f["secret"] != "captcha-secret" {
		t.Fatalf("provider was sent %v", f)
	}
	// The lost answer is given again, not a second guest.
	again := hs.Do(t, "POST", guestReg, "", map[string]any{"auth": captchaAuth(c.Session, "solved")})
	expect(t, again, 200, "")
	if again.Str("user_id") != g.UserID || gmLiveGuests(t, hs) != 1 {
		t.Fatalf("repeat: %s (%d guests)", again, gmLiveGuests(t, hs))
	}
	// A new registration needs its own captcha.
	expect(t, hs.Do(t, "POST", guestReg, "", map[string]any{}), 401, "")

	// registration_require_captcha is off: users register with the dummy stage.
	r = hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "uma", "password": "pw-uma"})
	if readChallenge(t, r).stages() != "m.login.dummy" {
		t.Fatalf("user flows: %s", r)
	}

	if challengeMetric(t, hs, "issued", stageCaptcha, "") < 4 || challengeMetric(t, hs, "solved", stageCaptcha, "") != 1 ||
		challengeMetric(t, hs, "failed", stageCaptcha, "refused") != 1 {
		t.Fatalf("metrics: %s", hs.Do(t, "GET", "/metrics", "", nil).Raw)
	}
}

// Guest-link redemption with the captcha on: a dead link says so before
// any check; a good one asks for the captcha, uses the link once when it
// is solved, and a session of one link does not redeem another.
func TestGuestLinkCaptcha(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		fake := httptest.NewServer(&fakeCaptchaProvider{})
		defer fake.Close()
		hs := testharness.Start(t, humanCheckConfig(t, backend, fake.URL, false))
		alice := hs.RegisterUser(t, "alice")
		room := gmGuestRoom(t, hs, alice.Token, false, nil)
		link := hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{"max_uses": 1})
		expect(t, link, 200, "")
		token := link.Str("token")
		other := hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{})
		expect(t, other, 200, "")

		// Unknown and revoked links: the usual errors, no challenge.
		expect(t, hs.Do(t, "POST", gmRedeem("no-such-link"), "", map[string]any{}), 404, "M_NOT_FOUND")
		revoked := hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{})
		expect(t, hs.Do(t, "DELETE", gmLinks(room)+"/"+revoked.Str("token"), alice.Token, nil), 200, "")
		expect(t, hs.Do(t, "POST", gmRedeem(revoked.Str("token")), "", map[string]any{}), 403, "M_FORBIDDEN")

		c := readChallenge(t, hs.Do(t, "POST", gmRedeem(token), "", map[string]any{}))
		if c.stages() != stageCaptcha || c.Params[stageCaptcha]["public_key"] != "site-key-2" {
			t.Fatalf("challenge: %+v", c)
		}
		expect(t, hs.Do(t, "POST", gmRedeem(token), "", map[string]any{"auth": captchaAuth(c.Session, "forged")}), 401, "M_UNAUTHORIZED")
		// The session belongs to this link.
		expect(t, hs.Do(t, "POST", gmRedeem(other.Str("token")), "", map[string]any{"auth": captchaAuth(c.Session, "solved")}), 403, "M_FORBIDDEN")
		if n := gmCount(t, hs, `SELECT uses FROM guest_links WHERE token = $1`, token); n != 0 {
			t.Fatalf("link used %d times before the captcha", n)
		}
		r := hs.Do(t, "POST", gmRedeem(token), "", map[string]any{"auth": captchaAuth(c.Session, "solved")})
		expect(t, r, 200, "")
		if r.Str("room_id") != room || gmMembership(t, hs, alice.Token, room, r.Str("user_id")) != "join" {
			t.Fatalf("redemption: %s", r)
		}
		if n := gmCount(t, hs, `SELECT uses FROM guest_links WHERE token = $1`, token); n != 1 {
			t.Fatalf("link used %d times", n)
		}
		// Its one use is spent: the next visitor hears so before any check.
		expect(t, hs.Do(t, "POST", gmRedeem(token), "", map[string]any{}), 403, "M_FORBIDDEN")
	})
}

// A captcha provider that does not answer: guest registration and link
// redemption answer 503 within the timeout, and nothing is created.
func TestGuestCaptchaProviderTimeout(t *testing.T) {
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer silent.Close()
	defer close(release)
	hs := testharness.Start(t, humanCheckConfig(t, "sqlite", silent.URL, false))
	alice := hs.RegisterUser(t, "alice")
	room := gmGuestRoom(t, hs, alice.Token, false, nil)
	token := hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{}).Str("token")

	for _, path := range []string{cs + "/register?kind=guest", gmRedeem(token)} {
		c := readChallenge(t, hs.Do(t, "POST", path, "", map[string]any{}))
		start := time.Now()
		r := hs.Do(t, "POST", path, "", map[string]any{"auth": captchaAuth(c.Session, "solved")})
		expect(t, r, 503, "M_UNKNOWN")
		if time.Since(start) > 5*time.Second || !strings.Contains(r.Str("error"), "captcha provider could not be reached") {
			t.Fatalf("%s after %s: %s", path, time.Since(start), r)
		}
	}
	if gmLiveGuests(t, hs) != 0 || gmCount(t, hs, `SELECT uses FROM guest_links WHERE token = $1`, token) != 0 {
		t.Fatal("a guest or a link use without a checked captcha")
	}
	if challengeMetric(t, hs, "failed", stageCaptcha, "unavailable") != 2 {
		t.Fatal("unavailable checks not counted")
	}
}

// registration_require_captcha covers named-guest registration (no
// password) and both guest upgrades (same user ID, new username).
func TestNamedGuestAndUpgradeCaptcha(t *testing.T) {
	fake := httptest.NewServer(&fakeCaptchaProvider{})
	defer fake.Close()
	hs := testharness.Start(t, captchaConfig(t, config.CaptchaRecaptcha, fake.URL))
	reg := cs + "/register"

	// A named guest: a username and no password.
	c := readChallenge(t, hs.Do(t, "POST", reg, "", map[string]any{"username": "nina"}))
	if c.stages() != stageCaptcha {
		t.Fatalf("named guest flows: %s", c.stages())
	}
	expect(t, hs.Do(t, "POST", reg, "", map[string]any{"username": "nina", "auth": captchaAuth(c.Session, "forged")}), 401, "M_UNAUTHORIZED")
	r := hs.Do(t, "POST", reg, "", map[string]any{"username": "nina", "auth": captchaAuth(c.Session, "solved")})
	expect(t, r, 200, "")
	if r.Str("user_id") != "@nina:localhost" {
		t.Fatalf("named guest: %s", r)
	}

	// Guest registration itself has no check here (guest_access.require_captcha is off).
	g := hs.RegisterGuest(t)
	lp := strings.TrimSuffix(strings.TrimPrefix(g.UserID, "@"), ":localhost")
	upgrade := map[string]any{"username": lp, "guest_access_token": g.Token}
	c = readChallenge(t, hs.Do(t, "POST", reg, "", upgrade))
	if c.stages() != stageCaptcha {
		t.Fatalf("upgrade flows: %s", c.stages())
	}
	upgrade["auth"] = map[string]any{"type": "m.login.dummy", "session": c.Session}
	expect(t, hs.Do(t, "POST", reg, "", upgrade), 401, "M_UNRECOGNIZED")
	upgrade["auth"] = captchaAuth(c.Session, "solved")
	r = hs.Do(t, "POST", reg, "", upgrade)
	expect(t, r, 200, "")
	if r.Str("user_id") != g.UserID {
		t.Fatalf("upgrade: %s", r)
	}

	// The rename upgrade: a new username takes the guest's place.
	g2 := hs.RegisterGuest(t)
	rename := map[string]any{"username": "oscar", "password": "pw-oscar", "guest_access_token": g2.Token}
	c = readChallenge(t, hs.Do(t, "POST", reg, "", rename))
	if c.stages() != stageCaptcha {
		t.Fatalf("rename flows: %s", c.stages())
	}
	rename["auth"] = captchaAuth(c.Session, "forged")
	expect(t, hs.Do(t, "POST", reg, "", rename), 401, "M_UNAUTHORIZED")
	expect(t, hs.Do(t, "GET", cs+"/account/whoami", g2.Token, nil), 200, "")
	rename["auth"] = captchaAuth(c.Session, "solved")
	r = hs.Do(t, "POST", reg, "", rename)
	expect(t, r, 200, "")
	if r.Str("user_id") != "@oscar:localhost" || r.Str("previous_user_id") != g2.UserID {
		t.Fatalf("rename: %s", r)
	}
}

// The proof of work: a solved challenge registers a guest; a wrong
// nonce, a forged challenge, a reused one and an expired one are refused
// with a new challenge to solve; nothing is created on refusal.
func TestGuestProofOfWork(t *testing.T) {
	cfg := humanCheckConfig(t, "sqlite", "", true)
	cfg.GuestAccess.ProofOfWorkTTL = time.Second
	hs := testharness.Start(t, cfg)
	guestReg := cs + "/register?kind=guest"

	c := readChallenge(t, hs.Do(t, "POST", guestReg, "", map[string]any{}))
	if c.stages() != stagePoW || c.Params[stagePoW]["bits"] != float64(8) {
		t.Fatalf("challenge: %+v", c)
	}
	solved := c.powAuth(t)

	// A wrong nonce.
	wrong := map[string]any{"type": stagePoW, "session": c.Session, "challenge": solved["challenge"]}
	for n := 0; ; n++ {
		if nonce := "w" + strconv.Itoa(n); !proofofwork.Solves(solved["challenge"].(string), nonce, 8) {
			wrong["nonce"] = nonce
			break
		}
	}
	r := hs.Do(t, "POST", guestReg, "", map[string]any{"auth": wrong})
	expect(t, r, 401, "M_UNAUTHORIZED")
	if again := readChallenge(t, r); again.Params[stagePoW]["challenge"] == solved["challenge"] || again.Session != c.Session {
		t.Fatalf("a refused answer gets a new challenge in the same session: %s", r)
	}

	// A forged challenge: the server's own, its difficulty byte lowered to
	// 1 bit under the original signature, answered with a 1-bit nonce.
	tok := solved["challenge"].(string)
	payload, sig, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || len(raw) < 2 || raw[1] != 8 {
		t.Fatalf("the challenge's payload is not version, bits, ...: %q", payload)
	}
	raw[1] = 1
	forged := base64.RawURLEncoding.EncodeToString(raw) + "." + sig
	r = hs.Do(t, "POST", guestReg, "", map[string]any{"auth": map[string]any{"type": stagePoW, "session": c.Session,
		"challenge": forged, "nonce": proofofwork.Solve(forged, 1)}})
	expect(t, r, 401, "M_UNAUTHORIZED")
	if !strings.Contains(r.Str("error"), "not issued by this server") {
		t.Fatalf("forged: %s", r)
	}
	if gmLiveGuests(t, hs) != 0 {
		t.Fatal("a guest without a proof of work")
	}

	// Solved.
	r = hs.Do(t, "POST", guestReg, "", map[string]any{"auth": solved})
	expect(t, r, 200, "")
	if !strings.HasPrefix(r.Str("user_id"), "@") || r.Str("access_token") == "" {
		t.Fatalf("registration: %s", r)
	}

	// The same answer in a new session: one answer, one use.
	c2 := readChallenge(t, hs.Do(t, "POST", guestReg, "", map[string]any{}))
	reused := map[string]any{"type": stagePoW, "session": c2.Session, "challenge": solved["challenge"], "nonce": solved["nonce"]}
	r = hs.Do(t, "POST", guestReg, "", map[string]any{"auth": reused})
	expect(t, r, 401, "M_UNAUTHORIZED")
	if !strings.Contains(r.Str("error"), "already been used") {
		t.Fatalf("reused: %s", r)
	}

	// Expired: solved, but answered after its second of life.
	late := readChallenge(t, r).powAuth(t)
	time.Sleep(1100 * time.Millisecond)
	r = hs.Do(t, "POST", guestReg, "", map[string]any{"auth": late})
	expect(t, r, 401, "M_UNAUTHORIZED")
	if !strings.Contains(r.Str("error"), "expired") {
		t.Fatalf("expired: %s", r)
	}
	// Its fresh challenge still works.
	expect(t, hs.Do(t, "POST", guestReg, "", map[string]any{"auth": readChallenge(t, r).powAuth(t)}), 200, "")
	if gmLiveGuests(t, hs) != 2 {
		t.Fatalf("%d guests", gmLiveGuests(t, hs))
	}
	for reason, want := range map[string]float64{"wrong": 1, "forged": 1, "used": 1, "expired": 1} {
		if got := challengeMetric(t, hs, "failed", stagePoW, reason); got != want {
			t.Errorf("failed{%s} = %v, want %v", reason, got, want)
		}
	}
	if challengeMetric(t, hs, "solved", stagePoW, "") != 2 || challengeMetric(t, hs, "issued", stagePoW, "") < 6 {
		t.Fatal("issued/solved not counted")
	}
}

// Both checks on: guest-link redemption needs the captcha and the proof
// of work, in either order, in one session; user registration needs
// neither (they are guest checks).
func TestGuestLinkCaptchaAndProofOfWork(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		fake := httptest.NewServer(&fakeCaptchaProvider{})
		defer fake.Close()
		hs := testharness.Start(t, humanCheckConfig(t, backend, fake.URL, true))
		alice := hs.RegisterUser(t, "alice")
		room := gmGuestRoom(t, hs, alice.Token, false, nil)
		token := hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{}).Str("token")

		c := readChallenge(t, hs.Do(t, "POST", gmRedeem(token), "", map[string]any{}))
		if c.stages() != stageCaptcha+","+stagePoW {
			t.Fatalf("flows: %s", c.stages())
		}
		r := hs.Do(t, "POST", gmRedeem(token), "", map[string]any{"auth": c.powAuth(t)})
		next := readChallenge(t, r)
		if strings.Join(next.Completed, ",") != stagePoW {
			t.Fatalf("after the proof of work: %s", r)
		}
		r = hs.Do(t, "POST", gmRedeem(token), "", map[string]any{"auth": captchaAuth(c.Session, "solved")})
		expect(t, r, 200, "")
		if r.Str("room_id") != room {
			t.Fatalf("redemption: %s", r)
		}

		// Guest registration: the same two stages, the captcha first.
		c = readChallenge(t, hs.Do(t, "POST", cs+"/register?kind=guest", "", map[string]any{}))
		expect(t, hs.Do(t, "POST", cs+"/register?kind=guest", "", map[string]any{"auth": captchaAuth(c.Session, "solved")}), 401, "")
		last := readChallenge(t, hs.Do(t, "POST", cs+"/register?kind=guest", "", map[string]any{"auth": map[string]any{"session": c.Session}}))
		expect(t, hs.Do(t, "POST", cs+"/register?kind=guest", "", map[string]any{"auth": last.powAuth(t)}), 200, "")

		r = hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "uma", "password": "pw-uma"})
		if readChallenge(t, r).stages() != "m.login.dummy" {
			t.Fatalf("user flows: %s", r)
		}
	})
}
