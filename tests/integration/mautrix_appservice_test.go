package integration

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"foyer/internal/testharness"
)

// TestMautrixAppServiceBridge drives Foyer with a real bridge framework:
// mautrix-go's appservice package runs a small relay bot that registers a
// puppet for a user of a pretend remote network, joins it to a room, and
// relays both ways: a Matrix user's message reaches the "remote network"
// through a transaction, and the remote user's reply is sent into the
// room as the puppet (masquerading). The bot's ping and the alias query
// go through mautrix too.
func TestMautrixAppServiceBridge(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		port, _ := strconv.Atoi(testharness.FreeLoopbackPort(t))
		reg := appservice.CreateRegistration()
		reg.ID = "relay"
		reg.URL = "http://127.0.0.1:" + strconv.Itoa(port)
		reg.SenderLocalpart = "relaybot"
		reg.EphemeralEvents = true
		reg.Namespaces.UserIDs.Register(regexp.MustCompile(`@relay_.*`), true)
		reg.Namespaces.RoomAliases.Register(regexp.MustCompile(`#relay_.*`), true)
		regPath := filepath.Join(t.TempDir(), "relay.yaml")
		if err := reg.Save(regPath); err != nil {
			t.Fatal(err)
		}
		hs := testharness.Start(t, appServiceConfig(t, backend, regPath))
		server := hs.Config.ServerName

		as, err := appservice.CreateFull(appservice.CreateOpts{
			Registration:     reg,
			HomeserverDomain: server,
			HomeserverURL:    hs.URL,
			HostConfig:       appservice.HostConfig{Hostname: "127.0.0.1", Port: uint16(port)},
		})
		if err != nil {
			t.Fatal(err)
		}
		// mautrix v0.26's memory state store leaves its join-rules map
		// nil, so the first m.room.join_rules event in a transaction
		// panics in the bridge while it holds the store's lock. Bridges
		// use a database store; this one gets its map.
		as.StateStore.(*mautrix.MemoryStateStore).JoinRules = map[id.RoomID]*event.JoinRulesEventContent{}
		// What the bridge relays out to the remote network.
		toRemote := make(chan string, 16)
		ep := appservice.NewEventProcessor(as)
		ep.On(event.EventMessage, func(ctx context.Context, evt *event.Event) {
			if evt.Sender == as.BotMXID() || strings.HasPrefix(evt.Sender.String(), "@relay_") {
				return // its own puppets' messages are not relayed back
			}
			toRemote <- evt.Content.AsMessage().Body
		})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ep.Start(ctx)
		defer ep.Stop()
		go as.Start()
		defer as.Stop()

		bot := as.BotIntent()
		waitCtx, waitCancel := context.WithTimeout(ctx, 10*time.Second)
		defer waitCancel()
		for {
			if _, err := bot.AppservicePing(waitCtx, reg.ID, "ping-"+backend); err == nil {
				break
			} else if waitCtx.Err() != nil {
				t.Fatalf("the bridge could not get pinged: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}

		// A Matrix user and a room; the remote user's puppet joins.
		carol := hs.RegisterUser(t, "carol")
		room := createRoom(t, hs, carol.Token, map[string]any{"preset": "public_chat"})
		puppet := as.Intent(id.NewUserID("relay_alice", server))
		if err := puppet.EnsureRegistered(ctx); err != nil {
			t.Fatalf("registering the puppet: %v", err)
		}
		if err := puppet.EnsureJoined(ctx, id.RoomID(room)); err != nil {
			t.Fatalf("joining the puppet: %v", err)
		}
		if err := puppet.SetDisplayName(ctx, "Alice (remote)"); err != nil {
			t.Fatalf("the puppet's display name: %v", err)
		}

		// Matrix to the remote network.
		sendMessage(t, hs, carol.Token, room, "hello remote network")
		select {
		case body := <-toRemote:
			if body != "hello remote network" {
				t.Errorf("relayed %q", body)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the bridge never received the Matrix user's message")
		}

		// The remote network to Matrix, as the puppet.
		resp, err := puppet.SendText(ctx, id.RoomID(room), "hello from the remote network")
		if err != nil {
			t.Fatalf("the puppet's message: %v", err)
		}
		cli := mautrixClient(t, hs, carol.UserID, carol.Token)
		ev, err := cli.GetEvent(ctx, id.RoomID(room), resp.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Sender != puppet.UserID {
			t.Errorf("the relayed message's sender is %s, want the puppet %s", ev.Sender, puppet.UserID)
		}
		if err := ev.Content.ParseRaw(ev.Type); err != nil || ev.Content.AsMessage().Body != "hello from the remote network" {
			t.Errorf("the relayed message: %v %+v", err, ev.Content.Raw)
		}
		// Nobody else may take the bridge's names.
		_, err = cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{RoomAliasName: "relay_general"})
		if httpStatus(err) != 400 || !strings.Contains(err.Error(), "M_EXCLUSIVE") {
			t.Errorf("a user creating a room with the bridge's alias: %v", err)
		}
	})
}
