// Command slidingsync measures simplified sliding sync (MSC4186) for a
// user in many rooms: the time to a new connection's first response for
// the 20 most recent rooms (as Element X opens), which must depend on the
// window and not on the rooms the user is in, and how soon a parked
// long-poll answers after a message arrives in a room outside the
// window.
//
//	go run ./bench/slidingsync -rooms 2000 -runs 9
//
// It builds and starts foyer on SQLite in a temporary data dir, creates
// the rooms (one message each) over HTTP with parallel clients, then
// reports medians and the server's RSS.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"sync"
	"time"

	"foyer/bench/benchserver"
)

const path = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"

func main() {
	nRooms := flag.Int("rooms", 2000, "rooms the user is in")
	runs := flag.Int("runs", 9, "measurements of each kind")
	flag.Parse()
	log.SetFlags(0)

	srv := benchserver.Start()
	defer srv.Stop()
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	base := srv.Base
	user := srv.Register(client, "reader")
	rooms := make([]string, *nRooms)
	start := time.Now()
	var wg sync.WaitGroup
	jobs := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				id := benchserver.Call(client, "POST", base+"/_matrix/client/v3/createRoom", user, map[string]any{"name": fmt.Sprintf("room %d", i)})["room_id"].(string)
				benchserver.Call(client, "PUT", base+fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/r%d", url.PathEscape(id), i), user,
					map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("hello %d", i)})
				rooms[i] = id
			}
		}()
	}
	for i := range rooms {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	log.Printf("created %d rooms in %v", *nRooms, time.Since(start).Round(time.Second))

	body := func(conn string) map[string]any {
		return map[string]any{
			"conn_id": conn,
			"lists": map[string]any{"all": map[string]any{
				"ranges": [][]int{{0, 19}}, "timeline_limit": 1,
				"required_state": [][]string{{"m.room.name", ""}, {"m.room.avatar", ""}, {"m.room.encryption", ""},
					{"m.room.member", "$ME"}, {"m.room.create", ""}},
			}},
			"extensions": map[string]any{"e2ee": map[string]any{"enabled": true}, "to_device": map[string]any{"enabled": true},
				"account_data": map[string]any{"enabled": true}, "receipts": map[string]any{"enabled": true}, "typing": map[string]any{"enabled": true}},
		}
	}

	var first []float64
	for i := 0; i < *runs; i++ {
		t0 := time.Now()
		resp := post(client, base, user, "", 0, body(fmt.Sprintf("first-%d", i)))
		d := time.Since(t0)
		n := len(resp["rooms"].(map[string]any))
		count := resp["lists"].(map[string]any)["all"].(map[string]any)["count"]
		log.Printf("run %d: first response %v, %d rooms of %v", i+1, d.Round(time.Microsecond), n, count)
		first = append(first, float64(d.Microseconds())/1000)
	}

	var wake, sends []float64
	pos := post(client, base, user, "", 0, body("wake"))["pos"].(string)
	for i := 0; i < *runs; i++ {
		answered := make(chan map[string]any, 1)
		go func() { answered <- post(client, base, user, pos, 30000, body("wake")) }()
		time.Sleep(300 * time.Millisecond)
		room := rooms[(i*37+*nRooms/2)%*nRooms]
		t0 := time.Now()
		benchserver.Call(client, "PUT", base+fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/w%d", url.PathEscape(room), i), user,
			map[string]any{"msgtype": "m.text", "body": "wake"})
		sent := time.Since(t0)
		resp := <-answered
		d := time.Since(t0)
		sends = append(sends, float64(sent.Microseconds())/1000)
		if _, ok := resp["rooms"].(map[string]any)[room]; !ok {
			log.Fatalf("run %d: woken without the room", i+1)
		}
		pos = resp["pos"].(string)
		log.Printf("run %d: long-poll answered %v after the send began (the send took %v)", i+1, d.Round(time.Microsecond), sent.Round(time.Microsecond))
		wake = append(wake, float64(d.Microseconds())/1000)
	}
	fmt.Printf("rooms=%d median first response (20-room window)=%.1f ms median long-poll answer after a send began=%.1f ms (the send itself: %.1f ms) server RSS=%.1f MiB\n",
		*nRooms, benchserver.Median(first), benchserver.Median(wake), benchserver.Median(sends), float64(srv.RSSKiB())/1024)
}

func post(c *http.Client, base, token, pos string, timeoutMS int, body any) map[string]any {
	q := url.Values{"timeout": {fmt.Sprint(timeoutMS)}}
	if pos != "" {
		q.Set("pos", pos)
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", base+path+"?"+q.Encode(), bytes.NewReader(b))
	benchserver.Check(err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	benchserver.Check(err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		log.Fatalf("sliding sync: %d %s", resp.StatusCode, raw)
	}
	var out map[string]any
	benchserver.Check(json.Unmarshal(raw, &out))
	return out
}
