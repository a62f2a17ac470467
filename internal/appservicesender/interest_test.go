package appservicesender

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"foyer/internal/appservice"
	"foyer/internal/config"
)

// aliasFeed is fakeFeed with aliases.
type aliasFeed struct {
	fakeFeed
	aliases map[string][]string
}

func (f *aliasFeed) AliasesForRoom(_ context.Context, roomID string) ([]string, error) {
	return f.aliases[roomID], nil
}

// A service sees the rooms of its room namespaces, the rooms with one of
// its aliases, the rooms where one of its users is joined; events its
// users send or that are about them; and nothing else.
func TestInterest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "irc.yaml")
	body := "id: irc\nurl: http://127.0.0.1:1\nas_token: a\nhs_token: h\nsender_localpart: ircbot\n" +
		"namespaces:\n  users:\n  - exclusive: true\n    regex: '@irc_.*'\n  aliases:\n  - exclusive: false\n    regex: '#irc_.*'\n" +
		"  rooms:\n  - exclusive: false\n    regex: '!ns_.*'\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.AppServices = []string{path}
	regs, err := cfg.LoadAppServices()
	if err != nil {
		t.Fatal(err)
	}
	as := appservice.NewRegistry(regs, "example.org").ByID("irc")
	feed := &aliasFeed{aliases: map[string][]string{"!aliased:example.org": {"#irc_libera:example.org"}, "!plain:example.org": {"#plain:example.org"}}}
	ctx := context.Background()
	for room, want := range map[string]bool{
		"!ns_1:example.org":    true,
		"!aliased:example.org": true,
		"!bridged:example.org": true, // @irc_bob is joined
		"!plain:example.org":   false,
	} {
		if got, err := roomOfInterest(ctx, as, feed, room); err != nil || got != want {
			t.Errorf("roomOfInterest(%s) = %v, %v; want %v", room, got, err, want)
		}
	}
	in := newInterest(as, feed)
	for _, tc := range []struct {
		raw  string
		want bool
	}{
		{`{"room_id":"!plain:example.org","sender":"@irc_x:example.org","type":"m.room.message","content":{}}`, true},
		{`{"room_id":"!plain:example.org","sender":"@carol:example.org","type":"m.room.member","state_key":"@irc_y:example.org","content":{"membership":"invite"}}`, true},
		{`{"room_id":"!plain:example.org","sender":"@carol:example.org","type":"m.room.message","content":{}}`, false},
		{`{"room_id":"!bridged:example.org","sender":"@carol:example.org","type":"m.room.message","content":{}}`, true},
	} {
		se := message(t, 1, "!x:example.org", "")
		ev, err := parseForTest(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		se.Event = ev
		if got, err := in.wants(ctx, se.Event); err != nil || got != tc.want {
			t.Errorf("wants(%s) = %v, %v; want %v", tc.raw, got, err, tc.want)
		}
	}
}
