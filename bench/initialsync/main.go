// Command initialsync measures an initial /sync of a user in many busy
// rooms: with -rooms 100 -events 1000 the user is in 100 rooms of 1,000
// events each, and the initial sync must answer from the newest events of
// each room and the state at their start, not by loading every event.
//
//	go run ./bench/initialsync -rooms 100 -events 1000 -runs 5
//
// It builds and starts foyer on SQLite in a temporary data dir, fills the
// rooms over HTTP with parallel clients, then times initial syncs (default
// filter: 10 events a room) and reports the median and the server's RSS.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"sync"
	"time"

	"foyer/bench/benchserver"
)

func main() {
	nRooms := flag.Int("rooms", 100, "rooms the user is in")
	nEvents := flag.Int("events", 1000, "messages per room")
	runs := flag.Int("runs", 5, "initial syncs to time")
	flag.Parse()
	log.SetFlags(0)

	srv := benchserver.Start()
	defer srv.Stop()
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	base := srv.Base
	user := srv.Register(client, "reader")
	rooms := make([]string, *nRooms)
	for i := range rooms {
		rooms[i] = benchserver.Call(client, "POST", base+"/_matrix/client/v3/createRoom", user, map[string]any{"name": fmt.Sprintf("room %d", i)})["room_id"].(string)
	}
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan [2]int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range work {
				benchserver.Call(client, "PUT", base+fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/r%de%d", url.PathEscape(rooms[job[0]]), job[0], job[1]), user,
					map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("message %d", job[1])})
			}
		}()
	}
	for e := 0; e < *nEvents; e++ {
		for r := range rooms {
			work <- [2]int{r, e}
		}
	}
	close(work)
	wg.Wait()
	log.Printf("filled %d rooms with %d messages each in %v", *nRooms, *nEvents, time.Since(start).Round(time.Second))

	var times []float64
	for i := 0; i < *runs; i++ {
		t0 := time.Now()
		body := benchserver.Call(client, "GET", base+"/_matrix/client/v3/sync", user, nil)
		d := time.Since(t0)
		joined := body["rooms"].(map[string]any)["join"].(map[string]any)
		log.Printf("run %d: initial sync %v, %d rooms", i+1, d.Round(time.Millisecond), len(joined))
		times = append(times, float64(d.Milliseconds()))
	}
	fmt.Printf("rooms=%d events/room=%d median initial sync=%.0f ms server RSS=%.1f MiB\n",
		*nRooms, *nEvents, benchserver.Median(times), float64(srv.RSSKiB())/1024)
}
