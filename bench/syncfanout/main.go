// Command syncfanout measures how fast one message reaches N clients
// long-polling /sync, and what the server's memory costs while they wait.
//
//	go run ./bench/syncfanout -n 1000 -runs 5
//
// It builds and starts the foyer binary on SQLite in a temporary data
// dir, registers N users in one room, parks N long-polls, sends one
// message, and reports p50 and p99 delivery latency (send to the client
// having read the response) and the server's RSS while all N wait. With
// -runs it repeats the send and reports the median of each figure.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"foyer/bench/benchserver"
)

func main() {
	n := flag.Int("n", 100, "number of long-polling clients")
	runs := flag.Int("runs", 3, "messages to send (one measurement each)")
	flag.Parse()
	log.SetFlags(0)

	srv := benchserver.Start()
	defer srv.Stop()
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: *n + 10}}
	base := srv.Base
	owner := srv.Register(client, "owner")
	room := benchserver.Call(client, "POST", base+"/_matrix/client/v3/createRoom", owner, map[string]any{"preset": "public_chat"})["room_id"].(string)
	tokens := make([]string, *n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			tokens[i] = srv.Register(client, fmt.Sprintf("u%d", i))
			benchserver.Call(client, "POST", base+"/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/join", tokens[i], map[string]any{})
		}()
	}
	wg.Wait()
	filter := url.QueryEscape(`{"room":{"timeline":{"limit":5}},"presence":{"limit":0}}`)
	since := make([]string, *n)
	for i, tok := range tokens {
		since[i] = benchserver.Call(client, "GET", base+"/_matrix/client/v3/sync?filter="+filter, tok, nil)["next_batch"].(string)
	}
	log.Printf("%d clients joined %s", *n, room)

	var p50s, p99s, rsss []float64
	for run := 0; run < *runs; run++ {
		latencies := make([]time.Duration, *n)
		var sentAt time.Time
		var sentMu sync.RWMutex
		sentMu.Lock()
		var done sync.WaitGroup
		for i := range tokens {
			done.Add(1)
			go func() {
				defer done.Done()
				for {
					body := benchserver.Call(client, "GET", base+"/_matrix/client/v3/sync?timeout=120000&filter="+filter+"&since="+since[i], tokens[i], nil)
					since[i] = body["next_batch"].(string)
					if strings.Contains(fmt.Sprint(body["rooms"]), "fanout") {
						sentMu.RLock()
						latencies[i] = time.Since(sentAt)
						sentMu.RUnlock()
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(*n/100+1) * 500 * time.Millisecond) // let every poll park
		rss := srv.RSSKiB()
		sentAt = time.Now()
		sentMu.Unlock()
		benchserver.Call(client, "PUT", base+fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/fanout%d", url.PathEscape(room), run), owner,
			map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("fanout %d", run)})
		done.Wait()
		sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
		p50 := latencies[len(latencies)/2]
		p99 := latencies[min(len(latencies)*99/100, len(latencies)-1)]
		log.Printf("run %d: n=%d p50=%v p99=%v server RSS while waiting=%.1f MiB", run+1, *n, p50, p99, float64(rss)/1024)
		p50s = append(p50s, float64(p50.Microseconds())/1000)
		p99s = append(p99s, float64(p99.Microseconds())/1000)
		rsss = append(rsss, float64(rss)/1024)
	}
	fmt.Printf("n=%d runs=%d median p50=%.1f ms median p99=%.1f ms median server RSS=%.1f MiB\n",
		*n, *runs, benchserver.Median(p50s), benchserver.Median(p99s), benchserver.Median(rsss))
}
