package integration

import (
	"fmt"
	"net/url"
	"testing"

	"foyer/internal/testharness"
)

// A destination that is down catches up when it is back, also when the
// sending server restarted meanwhile with the events still queued: the
// queue is in the database, not in memory. Both databases.
func TestFederationDestinationDownCatchesUpAcrossRestart(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		a, b := servers[0], servers[1]
		alice := a.RegisterUser(t, "alice")
		bob := b.RegisterUser(t, "bob")
		room := createRoom(t, a, alice.Token, map[string]any{"preset": "public_chat"})
		expect(t, b.Do(t, "POST", cs+"/join/"+url.PathEscape(room)+"?server_name="+url.QueryEscape(a.Config.ServerName), bob.Token, map[string]any{}), 200, "")
		sendMessage(t, a, alice.Token, room, "before the outage")
		waitFor(t, func() bool { return syncHasMessage(t, b, bob.Token, room, "before the outage") })

		b.Stop(t)
		for i := range 3 {
			sendMessage(t, a, alice.Token, room, fmt.Sprintf("during the outage %d", i))
		}
		// The sender restarts with its queue for B not empty.
		a.Stop(t)
		a.Resume(t)
		b.Resume(t)
		for i := range 3 {
			body := fmt.Sprintf("during the outage %d", i)
			waitFor(t, func() bool { return syncHasMessage(t, b, bob.Token, room, body) })
		}
		sendMessage(t, b, bob.Token, room, "back")
		waitFor(t, func() bool { return syncHasMessage(t, a, alice.Token, room, "back") })
	})
}
