// Command loadgen drives one scenario of the performance goals against a
// freshly built foyer over HTTP and reports its rate, with the server's
// CPU time and memory sampled from /proc:
//
//	go run ./bench/loadgen -scenario versions   -clients 16 -duration 10s
//	go run ./bench/loadgen -scenario onboarding -clients 8  -duration 20s
//	go run ./bench/loadgen -scenario sends      -clients 8  -duration 10s -rooms 1
//	go run ./bench/loadgen -scenario fanout     -clients 100 -duration 10s -rate 4
//
// versions: GET /_matrix/client/versions in a loop per client (the
// trivial request: routing, middleware, metrics, JSON).
// onboarding: per client, register a guest, join one shared room, and do
// a first /sync (lazy-loading members, as Element and matrix-js-sdk do;
// -lazy=false for all members) that must show the room just joined; the room grows by
// one member per journey. It reports the rate per second, the first and
// last five seconds, and the first syncs that missed the room.
//
// sends: each client sends messages in a loop, into one shared room or
// (-rooms N) spread over N rooms; each acknowledged only after its commit.
// fanout: -clients guests long-poll one room while one user sends -rate
// messages a second; each client measures every message's delivery
// (send start to the client reading it), reported as p50 and p99, and
// messages some client never saw.
//
// -json prints the result as one JSON object. -env passes FOYER_*
// settings to the server (comma-separated). -bin runs a binary built
// already, so that runs can alternate between two builds. -database-url
// runs the server on a fresh database of that PostgreSQL server, dropped
// afterwards, instead of SQLite:
//
//	go run ./bench/loadgen -scenario sends -database-url 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
//
// -processes N (with -database-url) starts N processes on that one
// database, each serving before the next starts: the first writes, the
// others follow it. Client worker i talks only to process i % N; in
// fanout the sender uses process 0 and the receivers are spread over all,
// so delivery crosses processes. Once-only setup (rooms) goes to process
// 0. Server CPU and RSS are the sums over the processes, with each
// process's own in per_process.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"foyer/bench/benchserver"
)

type result struct {
	Scenario   string    `json:"scenario"`
	Clients    int       `json:"clients"`
	Seconds    float64   `json:"seconds"`
	Done       int64     `json:"done"`
	Rate       float64   `json:"rate_per_second"`
	PerSecond  []int64   `json:"per_second,omitempty"`
	First5     float64   `json:"first_5s_rate,omitempty"`
	Last5      float64   `json:"last_5s_rate,omitempty"`
	Missing    int64     `json:"first_syncs_missing_room"`
	P50ms      float64   `json:"delivery_p50_ms,omitempty"`
	P99ms      float64   `json:"delivery_p99_ms,omitempty"`
	Lost       int64     `json:"deliveries_lost"`
	Errors     int64     `json:"errors"`
	CPUSeconds float64   `json:"server_cpu_seconds"`
	CPUPerOp   float64   `json:"server_cpu_ms_per_op"`
	RSSMiB     float64   `json:"server_rss_mib"`
	PeakRSSMiB float64   `json:"server_peak_rss_mib"`
	Extra      []float64 `json:"-"`
	Processes  int       `json:"processes"`
	PerProcess []usage   `json:"per_process"`
}

// usage is one server process's share of a run's CPU and its memory.
type usage struct {
	CPUSeconds float64 `json:"server_cpu_seconds"`
	RSSMiB     float64 `json:"server_rss_mib"`
	PeakRSSMiB float64 `json:"server_peak_rss_mib"`
}

// measure fills the server fields of res: CPU since cpu0 (per process,
// in start order) and memory now, summed over the processes. The summed
// peak adds peaks that may not have coincided: an upper bound.
func measure(res *result, g *benchserver.Group, cpu0 []float64) {
	res.Processes = len(g.Servers)
	res.PerProcess = nil
	res.CPUSeconds, res.RSSMiB, res.PeakRSSMiB = 0, 0, 0
	for i, cpu := range g.CPUSeconds() {
		u := usage{CPUSeconds: cpu - cpu0[i], RSSMiB: float64(g.Servers[i].RSSKiB()) / 1024,
			PeakRSSMiB: float64(g.Servers[i].PeakRSSKiB()) / 1024}
		res.PerProcess = append(res.PerProcess, u)
		res.CPUSeconds += u.CPUSeconds
		res.RSSMiB += u.RSSMiB
		res.PeakRSSMiB += u.PeakRSSMiB
	}
}

func main() {
	scenario := flag.String("scenario", "versions", "versions | onboarding | sends | fanout")
	clients := flag.Int("clients", 16, "concurrent clients")
	duration := flag.Duration("duration", 10*time.Second, "how long to drive the load")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	env := flag.String("env", "", "extra FOYER_* settings for the server, comma-separated")
	lazy := flag.Bool("lazy", true, "onboarding: first sync with lazy-loaded members, as Element and matrix-js-sdk do")
	roomCount := flag.Int("rooms", 1, "sends: rooms the clients send into")
	rate := flag.Float64("rate", 4, "fanout: messages a second")
	bin := flag.String("bin", "", "a foyer binary built already (default: build ./cmd/foyer)")
	databaseURL := flag.String("database-url", "", "a PostgreSQL server (URL of a database on it, with the right to create databases): the server runs on a fresh database there instead of SQLite")
	processes := flag.Int("processes", 1, "server processes on the one database (more than 1 needs -database-url); client worker i uses process i % N")
	flag.Parse()
	log.SetFlags(0)

	if *processes < 1 {
		log.Fatalf("loadgen: -processes %d: need at least 1", *processes)
	}
	if *processes > 1 && *databaseURL == "" {
		log.Fatalf("loadgen: -processes %d needs -database-url: several processes share one PostgreSQL database (an SQLite database belongs to one process)", *processes)
	}
	var extra []string
	if *env != "" {
		extra = strings.Split(*env, ",")
	}
	drop := func() {}
	if *databaseURL != "" {
		var url string
		url, drop = freshDatabase(*databaseURL)
		defer drop()
		extra = append(extra, "FOYER_DATABASE_URL="+url)
	}
	group, err := benchserver.StartGroup(*bin, *processes, extra...)
	if err != nil {
		drop()
		if se, ok := errors.AsType[*benchserver.StartError](err); ok && se.Process > 1 {
			log.Fatalf("loadgen: %v\n(the process's own log is above; a build that lets only one process serve a database refuses the second: -processes needs followers that forward to the writer)", err)
		}
		log.Fatalf("loadgen: %v", err)
	}
	defer group.Stop()
	servers := group.Servers
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: *clients * 2, MaxConnsPerHost: *clients * 2}}

	var op func(worker int, c *http.Client) (ok, missing bool)
	switch *scenario {
	case "versions":
		op = versions(servers)
	case "onboarding":
		op = onboarding(client, servers, *lazy)
	case "sends":
		op = sends(client, servers, *clients, *roomCount)
	case "fanout":
		res := fanout(client, group, *clients, *rate, *duration)
		report(res, *asJSON)
		return
	default:
		log.Fatalf("unknown scenario %q", *scenario)
	}

	seconds := int(duration.Seconds())
	perSecond := make([]atomic.Int64, seconds+1)
	var done, missing, errs atomic.Int64
	cpu0 := group.CPUSeconds()
	start := time.Now()
	deadline := start.Add(*duration)
	var wg sync.WaitGroup
	for worker := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				ok, miss := op(worker, client)
				if !ok {
					errs.Add(1)
					continue
				}
				if miss {
					missing.Add(1)
				}
				done.Add(1)
				if s := int(time.Since(start).Seconds()); s < len(perSecond) {
					perSecond[s].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	res := result{Scenario: *scenario, Clients: *clients, Seconds: elapsed, Done: done.Load(),
		Rate: float64(done.Load()) / elapsed, Missing: missing.Load(), Errors: errs.Load()}
	measure(&res, group, cpu0)
	for i := range seconds {
		res.PerSecond = append(res.PerSecond, perSecond[i].Load())
	}
	if seconds >= 10 {
		var a, b int64
		for i := range 5 {
			a += res.PerSecond[i]
			b += res.PerSecond[seconds-1-i]
		}
		res.First5, res.Last5 = float64(a)/5, float64(b)/5
	}
	if res.Done > 0 {
		res.CPUPerOp = res.CPUSeconds * 1000 / float64(res.Done)
	}
	report(res, *asJSON)
}

func report(res result, asJSON bool) {
	if asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	if res.Scenario == "fanout" {
		fmt.Printf("fanout, %d clients, %.1f s: %d messages, delivery p50 %.1f ms, p99 %.1f ms, %d deliveries lost\n",
			res.Clients, res.Seconds, res.Done, res.P50ms, res.P99ms, res.Lost)
	} else {
		fmt.Printf("%s, %d clients, %.1f s: %d done, %.0f/s (first 5 s %.0f/s, last 5 s %.0f/s), %d errors, %d first syncs missing the room\n",
			res.Scenario, res.Clients, res.Seconds, res.Done, res.Rate, res.First5, res.Last5, res.Errors, res.Missing)
	}
	if res.Processes <= 1 {
		fmt.Printf("server: %.2f s CPU (%.3f ms per op), RSS %.1f MiB, peak %.1f MiB\n", res.CPUSeconds, res.CPUPerOp, res.RSSMiB, res.PeakRSSMiB)
		return
	}
	fmt.Printf("server, %d processes together: %.2f s CPU (%.3f ms per op), RSS %.1f MiB, peak %.1f MiB (sum of each one's peak)\n",
		res.Processes, res.CPUSeconds, res.CPUPerOp, res.RSSMiB, res.PeakRSSMiB)
	for i, u := range res.PerProcess {
		fmt.Printf("  process %d: %.2f s CPU, RSS %.1f MiB, peak %.1f MiB\n", i, u.CPUSeconds, u.RSSMiB, u.PeakRSSMiB)
	}
}

// request does one call and reports the status and body.
func request(c *http.Client, method, u, token string, body string) (int, []byte) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return 0, nil
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// serverOf is the process client worker w talks to.
func serverOf(servers []*benchserver.Server, w int) *benchserver.Server {
	return servers[w%len(servers)]
}

func versions(servers []*benchserver.Server) func(int, *http.Client) (bool, bool) {
	return func(w int, c *http.Client) (bool, bool) {
		status, _ := request(c, "GET", serverOf(servers, w).Base+"/_matrix/client/versions", "", "")
		return status == 200, false
	}
}

// onboarding is one guest's journey into a shared room, all of it on the
// worker's process; the room is made on the first.
func onboarding(setup *http.Client, servers []*benchserver.Server, lazy bool) func(int, *http.Client) (bool, bool) {
	syncPath := "/_matrix/client/v3/sync?timeout=0"
	if lazy {
		syncPath += "&filter=" + url.QueryEscape(`{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":20}}}`)
	}
	first := servers[0]
	owner := first.Register(setup, "owner")
	room := benchserver.Call(setup, "POST", first.Base+"/_matrix/client/v3/createRoom", owner, map[string]any{
		"preset": "public_chat",
		"initial_state": []map[string]any{{"type": "m.room.guest_access", "state_key": "",
			"content": map[string]any{"guest_access": "can_join"}}},
	})["room_id"].(string)
	joinPath := "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/join"
	return func(w int, c *http.Client) (bool, bool) {
		base := serverOf(servers, w).Base
		status, raw := request(c, "POST", base+"/_matrix/client/v3/register?kind=guest", "", `{}`)
		if status != 200 {
			return false, false
		}
		var reg struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(raw, &reg) != nil {
			return false, false
		}
		if status, _ := request(c, "POST", base+joinPath, reg.AccessToken, `{}`); status != 200 {
			return false, false
		}
		status, raw = request(c, "GET", base+syncPath, reg.AccessToken, "")
		if status != 200 {
			return false, false
		}
		var sync struct {
			Rooms struct {
				Join map[string]json.RawMessage `json:"join"`
			} `json:"rooms"`
		}
		_ = json.Unmarshal(raw, &sync)
		_, inRoom := sync.Rooms.Join[room]
		return true, !inRoom
	}
}

// publicRoom creates a room anyone (guests included) may join.
func publicRoom(c *http.Client, srv *benchserver.Server, owner string) string {
	return benchserver.Call(c, "POST", srv.Base+"/_matrix/client/v3/createRoom", owner, map[string]any{
		"preset": "public_chat",
		"initial_state": []map[string]any{{"type": "m.room.guest_access", "state_key": "",
			"content": map[string]any{"guest_access": "can_join"}}},
	})["room_id"].(string)
}

// sends gives each worker a user in one of rooms rooms; each operation is
// one message. The rooms are made on the first process; each worker
// registers, joins and sends on its own.
func sends(setup *http.Client, servers []*benchserver.Server, workers, roomCount int) func(int, *http.Client) (bool, bool) {
	owner := servers[0].Register(setup, "owner")
	rooms := make([]string, max(roomCount, 1))
	for i := range rooms {
		rooms[i] = publicRoom(setup, servers[0], owner)
	}
	tokens := make([]string, workers)
	paths := make([]string, workers)
	for w := range workers {
		srv := serverOf(servers, w)
		tokens[w] = srv.Register(setup, fmt.Sprintf("writer%d", w))
		room := rooms[w%len(rooms)]
		benchserver.Call(setup, "POST", srv.Base+"/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/join", tokens[w], map[string]any{})
		paths[w] = srv.Base + "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/send/m.room.message/"
	}
	var txn atomic.Int64
	return func(w int, c *http.Client) (bool, bool) {
		status, _ := request(c, "PUT", paths[w]+fmt.Sprintf("t%d", txn.Add(1)), tokens[w], `{"msgtype":"m.text","body":"load"}`)
		return status == 200, false
	}
}

// fanout parks n guests' long-polls on one room and sends rate messages a
// second for d; every client reports when it read each message. The
// sender uses the first process; guest i does everything on process
// i % N, so with several processes most deliveries cross from one to
// another.
func fanout(c *http.Client, group *benchserver.Group, n int, rate float64, d time.Duration) result {
	servers := group.Servers
	first := servers[0]
	owner := first.Register(c, "owner")
	room := publicRoom(c, first, owner)
	joinPath := "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/join"
	filter := url.QueryEscape(`{"room":{"timeline":{"limit":50},"state":{"lazy_load_members":true}},"presence":{"limit":0}}`)
	tokens := make([]string, n)
	since := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			base := serverOf(servers, i).Base
			tokens[i] = benchserver.Call(c, "POST", base+"/_matrix/client/v3/register?kind=guest", "", map[string]any{})["access_token"].(string)
			benchserver.Call(c, "POST", base+joinPath, tokens[i], map[string]any{})
			since[i] = benchserver.Call(c, "GET", base+"/_matrix/client/v3/sync?filter="+filter, tokens[i], nil)["next_batch"].(string)
		}()
	}
	wg.Wait()

	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	var latencies []time.Duration
	seen := make([]map[string]bool, n)
	stop := make(chan struct{})
	var polls sync.WaitGroup
	for i := range n {
		seen[i] = map[string]bool{}
		polls.Add(1)
		go func() {
			defer polls.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				status, raw := request(c, "GET", serverOf(servers, i).Base+"/_matrix/client/v3/sync?timeout=30000&filter="+filter+"&since="+since[i], tokens[i], "")
				read := time.Now()
				if status != 200 {
					continue
				}
				var body struct {
					NextBatch string `json:"next_batch"`
					Rooms     struct {
						Join map[string]struct {
							Timeline struct {
								Events []struct {
									Content struct {
										Body string `json:"body"`
									} `json:"content"`
								} `json:"events"`
							} `json:"timeline"`
						} `json:"join"`
					} `json:"rooms"`
				}
				if json.Unmarshal(raw, &body) != nil {
					continue
				}
				since[i] = body.NextBatch
				mu.Lock()
				for _, ev := range body.Rooms.Join[room].Timeline.Events {
					if at, ok := sentAt[ev.Content.Body]; ok && !seen[i][ev.Content.Body] {
						seen[i][ev.Content.Body] = true
						latencies = append(latencies, read.Sub(at))
					}
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Duration(n/100+1) * 500 * time.Millisecond) // let every poll park
	cpu0 := group.CPUSeconds()
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	sent := 0
	for time.Since(start) < d {
		<-tick.C
		body := fmt.Sprintf("fanout-%d", sent)
		mu.Lock()
		sentAt[body] = time.Now()
		mu.Unlock()
		benchserver.Call(c, "PUT", first.Base+"/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/send/m.room.message/"+body, owner,
			map[string]any{"msgtype": "m.text", "body": body})
		sent++
	}
	tick.Stop()
	time.Sleep(5 * time.Second) // the last deliveries
	close(stop)
	mu.Lock()
	defer mu.Unlock()
	res := result{Scenario: "fanout", Clients: n, Seconds: time.Since(start).Seconds(), Done: int64(sent),
		Lost: int64(sent*n - len(latencies))}
	measure(&res, group, cpu0)
	if len(latencies) > 0 {
		slices.Sort(latencies)
		res.P50ms = float64(latencies[len(latencies)/2].Microseconds()) / 1000
		res.P99ms = float64(latencies[min(len(latencies)*99/100, len(latencies)-1)].Microseconds()) / 1000
		res.CPUPerOp = res.CPUSeconds * 1000 / float64(len(latencies))
	}
	return res
}
