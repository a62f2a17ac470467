package integration

import (
	"regexp"
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// passwordLogin logs in over HTTP with m.login.password.
func passwordLogin(t *testing.T, p *foyerProc, user, password string) *testharness.Response {
	t.Helper()
	return p.must("POST", "/_matrix/client/v3/login", "", map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": user},
		"password":   password,
	})
}

// The operator subcommands work beside a running server on the same
// storage: users they create can log in, and registration tokens they
// mint admit exactly as many registrations as they allow.
func TestOperatorSubcommands(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		storage := storageArgs(t, backend)
		env := foyerEnv()
		p := startFoyerProc(t, append([]string{"--listen", "127.0.0.1:0", "--registration", "token"}, storage...), env)
		op := func(args ...string) (string, string, int) {
			t.Helper()
			return runFoyer(t, env, append(args, storage...)...)
		}

		// user create with a password.
		out, errOut, code := op("user", "create", "alice", "--password", "pw")
		if code != 0 || strings.TrimSpace(out) != "Created @alice:localhost" {
			t.Fatalf("user create alice: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if r := passwordLogin(t, p, "alice", "pw"); r.Status != 200 || r.Str("user_id") != "@alice:localhost" || r.Str("access_token") == "" {
			t.Fatalf("alice's login: %s", r)
		}
		if r := passwordLogin(t, p, "alice", "wrong"); r.Status != 403 || r.Errcode() != "M_FORBIDDEN" {
			t.Errorf("alice's login with a wrong password: %s", r)
		}
		// The name is taken now, for the subcommand and for the API.
		if out, errOut, code := op("user", "create", "alice", "--password", "pw2"); code == 0 || !strings.Contains(errOut, "@alice:localhost already exists") {
			t.Errorf("creating alice twice: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if r := p.must("GET", "/_matrix/client/v3/register/available?username=alice", "", nil); r.Status != 400 || r.Errcode() != "M_USER_IN_USE" {
			t.Errorf("/register/available for alice: %s", r)
		}

		// user create --admin with a generated password.
		out, errOut, code = op("user", "create", "bob", "--admin")
		m := regexp.MustCompile(`(?m)^Password: (\S+)$`).FindStringSubmatch(out)
		if code != 0 || !strings.Contains(out, "Created @bob:localhost (server admin)") || m == nil {
			t.Fatalf("user create bob --admin: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if r := passwordLogin(t, p, "bob", m[1]); r.Status != 200 || r.Str("user_id") != "@bob:localhost" {
			t.Fatalf("bob's login with the printed password: %s", r)
		}

		// registration-token create --uses 1.
		out, errOut, code = op("registration-token", "create", "--uses", "1")
		token := strings.TrimSpace(out)
		if code != 0 || token == "" || strings.ContainsAny(token, " \n") {
			t.Fatalf("registration-token create: exit %d\nstdout: %q\nstderr: %s", code, out, errOut)
		}
		validity := func() any {
			t.Helper()
			r := p.must("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token="+token, "", nil)
			if r.Status != 200 {
				t.Fatalf("validity: %s", r)
			}
			return r.JSON["valid"]
		}
		if v := validity(); v != true {
			t.Fatalf("a fresh token: valid = %v, want true", v)
		}
		register := func(user string) *testharness.Response {
			t.Helper()
			return p.must("POST", "/_matrix/client/v3/register", "", map[string]any{
				"username": user, "password": "pw-" + user,
				"auth": map[string]any{"type": "m.login.registration_token", "token": token},
			})
		}
		// Without auth, token mode asks for the token stage.
		r := p.must("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "carol", "password": "pw-carol"})
		if r.Status != 401 || !strings.Contains(string(r.Raw), `"m.login.registration_token"`) {
			t.Fatalf("registration without auth in token mode: %s", r)
		}
		if r := register("carol"); r.Status != 200 || r.Str("user_id") != "@carol:localhost" {
			t.Fatalf("registration with the token: %s", r)
		}
		if r := passwordLogin(t, p, "carol", "pw-carol"); r.Status != 200 {
			t.Errorf("carol's login: %s", r)
		}
		if v := validity(); v != false {
			t.Errorf("a used-up token: valid = %v, want false", v)
		}
		if r := register("dave"); r.Status != 401 || r.Errcode() != "M_FORBIDDEN" {
			t.Errorf("second registration with a one-use token: want 401 M_FORBIDDEN, got %s", r)
		}
		if r := passwordLogin(t, p, "dave", "pw-dave"); r.Status != 403 {
			t.Errorf("dave exists after a refused registration: %s", r)
		}
		// Dummy auth is not a way around the token.
		if r := p.must("POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": "erin", "password": "pw-erin", "auth": map[string]any{"type": "m.login.dummy"},
		}); r.Status != 401 || r.Errcode() != "M_UNRECOGNIZED" {
			t.Errorf("dummy auth in token mode: %s", r)
		}
	})
}
