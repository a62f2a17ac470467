package integration

import (
	"fmt"
	"testing"
	"time"

	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// BenchmarkInboundTransactions measures signed /send transactions of 50
// messages each, from another server whose user is in a local room with
// a local member, per backend: each message's signatures and content
// hash checked, the auth rules run three times, and it stored and made
// visible to /sync. The events are built and signed outside the timer.
//
//	go test ./tests/integration -run '^$' -bench InboundTransactions -benchtime 20x -count 5
func BenchmarkInboundTransactions(b *testing.B) {
	const perTxn = 50
	for _, backend := range testharness.Backends {
		b.Run(backend, func(b *testing.B) {
			hs := startNamed(b, backend, "local.test", nil)
			rs := txnRemote(b, backend, hs)
			alice := hs.RegisterUser(b, "alice")
			room := createRoom(b, hs, alice.Token, map[string]any{"preset": "public_chat"})
			rita := "@rita:remote.test"
			rs.join(b, room, rita)
			snap := currentRoom(b, hs, room)
			var auth []string
			for _, tup := range [][2]string{{"m.room.create", ""}, {"m.room.power_levels", ""}, {"m.room.member", rita}} {
				se, ok := snap.Get(tup[0], tup[1])
				if !ok {
					b.Fatalf("no %v in the room's state", tup)
				}
				auth = append(auth, se.Event.EventID())
			}
			prev, depth := extremityIDs(snap), snap.Info.Depth
			var elapsed time.Duration
			for i := range b.N {
				pdus := make([]matrixevents.Event, perTxn)
				for j := range pdus {
					depth++
					ev, err := matrixevents.BuildEvent(matrixevents.ProtoEvent{
						RoomVersion: snap.Info.Version, RoomID: room, Sender: rita, Type: "m.room.message",
						Content:      map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("message %d.%d", i, j)},
						PrevEventIDs: prev, AuthEventIDs: auth, Depth: depth, Origin: rs.name, Timestamp: time.Now(),
					}, rs.key)
					if err != nil {
						b.Fatal(err)
					}
					pdus[j], prev = ev, []string{ev.EventID()}
				}
				start := time.Now()
				r := sendTxn(b, rs, fmt.Sprintf("bench%d", i), rs.name, pdus)
				elapsed += time.Since(start)
				if r.Status != 200 {
					b.Fatalf("transaction: %s", r)
				}
				if e, _ := pduError(b, r, pdus[perTxn-1].EventID()); e != "" {
					b.Fatalf("the last message was refused: %s", e)
				}
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "txns/s")
			b.ReportMetric(float64(b.N*perTxn)/elapsed.Seconds(), "PDUs/s")
		})
	}
}
