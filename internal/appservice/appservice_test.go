package appservice

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"foyer/internal/config"
)

func testRegistry(t *testing.T, url string) *Registry {
	t.Helper()
	path := filepath.Join(t.TempDir(), "irc.yaml")
	body := "id: irc\nurl: " + url + "\nas_token: as-1\nhs_token: hs-1\nsender_localpart: ircbot\n" +
		"namespaces:\n  users:\n  - exclusive: true\n    regex: '@irc_.*'\n  - exclusive: false\n    regex: '@shared_.*'\n" +
		"  aliases:\n  - exclusive: true\n    regex: '#irc_.*'\n  rooms:\n  - exclusive: false\n    regex: '!bridged:.*'\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.AppServices = []string{path}
	regs, err := cfg.LoadAppServices()
	if err != nil {
		t.Fatal(err)
	}
	return NewRegistry(regs, "example.org")
}

func TestRegistry(t *testing.T) {
	r := testRegistry(t, "http://127.0.0.1:1")
	as := r.ByToken("as-1")
	if as == nil || as.ID != "irc" || as.SenderID != "@ircbot:example.org" {
		t.Fatalf("by token: %+v", as)
	}
	if r.ByToken("hs-1") != nil || r.ByToken("") != nil || r.ByToken("as-") != nil {
		t.Error("a token that is not an as_token found a service")
	}
	for user, want := range map[string]bool{"@irc_a:example.org": true, "@ircbot:example.org": true, "@shared_a:example.org": false, "@alice:example.org": false} {
		if got := r.UserIsExclusive(user); got != want {
			t.Errorf("UserIsExclusive(%s) = %v", user, got)
		}
	}
	if !as.OwnsUser("@shared_x:example.org") || as.OwnsUser("@alice:example.org") {
		t.Error("OwnsUser counts non-exclusive namespaces and nothing else")
	}
	if r.AliasExclusiveTo("#irc_x:example.org") != as || r.AliasExclusiveTo("#other:example.org") != nil {
		t.Error("AliasExclusiveTo")
	}
	if !as.OwnsRoom("!bridged:example.org") || as.OwnsRoom("!other:example.org") {
		t.Error("OwnsRoom")
	}
	var none *Registry
	if none.ByToken("x") != nil || none.All() != nil || none.UserIsExclusive("@a:b") {
		t.Error("a nil registry has services")
	}
}

// The client reaches loopback (the private-address rule is not for
// operator-chosen URLs), sends the hs_token, and keeps an error's body.
func TestClient(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/_matrix/app/v1/users/@irc_a:example.org":
			w.Write([]byte(`{}`))
		case "/_matrix/app/v1/ping":
			w.WriteHeader(http.StatusTeapot)
			w.Write([]byte(`{"errcode":"M_TEAPOT","error":"short and stout"}`))
		case "/_matrix/app/v1/thirdparty/location":
			w.Write([]byte("[" + strings.Repeat(`"x",`, maxAnswerBytes/4) + `"x"]`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	r := testRegistry(t, srv.URL)
	as := r.ByID("irc")
	c, err := NewClient(config.AppServiceDelivery{Timeout: 5 * time.Second}, config.Outbound{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ok, err := c.QueryUser(ctx, as, "@irc_a:example.org"); !ok || err != nil {
		t.Errorf("query of a known user: %v %v", ok, err)
	}
	if auth != "Bearer hs-1" {
		t.Errorf("Authorization %q", auth)
	}
	if ok, err := c.QueryAlias(ctx, as, "#irc_b:example.org"); ok || err != nil {
		t.Errorf("query of an unknown alias: %v %v", ok, err)
	}
	var se *StatusError
	if err := c.Ping(ctx, as, "t1"); !errors.As(err, &se) || se.Status != http.StatusTeapot || se.Errcode != "M_TEAPOT" || !strings.Contains(se.Body, "stout") {
		t.Errorf("ping error: %v", err)
	}
	if _, err := c.ThirdParty(ctx, as, "location", nil); err == nil {
		t.Error("an answer over the cap was read")
	}
	noURL := &Service{}
	if err := c.Ping(ctx, noURL, ""); !errors.Is(err, ErrNoURL) {
		t.Errorf("a service without url: %v", err)
	}
}
