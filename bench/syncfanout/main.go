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
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	n := flag.Int("n", 100, "number of long-polling clients")
	runs := flag.Int("runs", 3, "messages to send (one measurement each)")
	flag.Parse()
	log.SetFlags(0)

	dir, err := os.MkdirTemp("", "foyer-syncfanout-")
	check(err)
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "foyer")
	build := exec.Command("go", "build", "-o", bin, "./cmd/foyer")
	build.Stderr = os.Stderr
	check(build.Run())

	port := freePort()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	srv := exec.Command(bin, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
	srv.Env = append(os.Environ(), "FOYER_RATE_GUEST_REGISTRATION=off", "FOYER_RATE_REGISTRATION=off", "FOYER_RATE_LOGIN=off",
		"FOYER_PASSWORD_MEMORY_KIB=64", "FOYER_PASSWORD_ITERATIONS=1")
	srv.Stderr = os.Stderr
	check(srv.Start())
	defer srv.Process.Kill()
	waitHealthy(base)

	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: *n + 10, MaxConnsPerHost: 0}}
	owner := register(client, base, "owner")
	room := call(client, "POST", base+"/_matrix/client/v3/createRoom", owner, map[string]any{"preset": "public_chat"})["room_id"].(string)
	tokens := make([]string, *n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			tokens[i] = register(client, base, fmt.Sprintf("u%d", i))
			call(client, "POST", base+"/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/join", tokens[i], map[string]any{})
		}()
	}
	wg.Wait()
	filter := url.QueryEscape(`{"room":{"timeline":{"limit":5}},"presence":{"limit":0}}`)
	since := make([]string, *n)
	for i, tok := range tokens {
		since[i] = call(client, "GET", base+"/_matrix/client/v3/sync?filter="+filter, tok, nil)["next_batch"].(string)
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
					body := call(client, "GET", base+"/_matrix/client/v3/sync?timeout=120000&filter="+filter+"&since="+since[i], tokens[i], nil)
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
		rss := rssKiB(srv.Process.Pid)
		sentAt = time.Now()
		sentMu.Unlock()
		call(client, "PUT", base+fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/fanout%d", url.PathEscape(room), run), owner,
			map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("fanout %d", run)})
		done.Wait()
		sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
		p50 := latencies[len(latencies)/2]
		p99 := latencies[(len(latencies)*99)/100-boolInt(len(latencies) >= 100)]
		log.Printf("run %d: n=%d p50=%v p99=%v server RSS while waiting=%.1f MiB", run+1, *n, p50, p99, float64(rss)/1024)
		p50s = append(p50s, float64(p50.Microseconds())/1000)
		p99s = append(p99s, float64(p99.Microseconds())/1000)
		rsss = append(rsss, float64(rss)/1024)
	}
	fmt.Printf("n=%d runs=%d median p50=%.1f ms median p99=%.1f ms median server RSS=%.1f MiB\n", *n, *runs, median(p50s), median(p99s), median(rsss))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitHealthy(base string) {
	for i := 0; i < 200; i++ {
		if r, err := http.Get(base + "/health"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatal("server did not become healthy")
}

func call(c *http.Client, method, u, token string, body any) map[string]any {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	check(err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	check(err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		log.Fatalf("%s %s: %d %s", method, u, resp.StatusCode, raw)
	}
	var out map[string]any
	check(json.Unmarshal(raw, &out))
	return out
}

func register(c *http.Client, base, name string) string {
	r := call(c, "POST", base+"/_matrix/client/v3/register", "", map[string]any{
		"username": name, "password": "pw-" + name, "auth": map[string]any{"type": "m.login.dummy"},
	})
	return r["access_token"].(string)
}

// rssKiB reads VmRSS of a process from /proc.
func rssKiB(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kib int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &kib)
			return kib
		}
	}
	return 0
}
