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
	nRooms := flag.Int("rooms", 100, "rooms the user is in")
	nEvents := flag.Int("events", 1000, "messages per room")
	runs := flag.Int("runs", 5, "initial syncs to time")
	flag.Parse()
	log.SetFlags(0)

	dir, err := os.MkdirTemp("", "foyer-initialsync-")
	check(err)
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "foyer")
	build := exec.Command("go", "build", "-o", bin, "./cmd/foyer")
	build.Stderr = os.Stderr
	check(build.Run())
	port := freePort()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	srv := exec.Command(bin, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
	srv.Env = append(os.Environ(), "FOYER_RATE_REGISTRATION=off", "FOYER_RATE_LOGIN=off", "FOYER_PASSWORD_MEMORY_KIB=64", "FOYER_PASSWORD_ITERATIONS=1")
	srv.Stderr = os.Stderr
	check(srv.Start())
	defer srv.Process.Kill()
	waitHealthy(base)

	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	user := register(client, base, "reader")
	rooms := make([]string, *nRooms)
	for i := range rooms {
		rooms[i] = call(client, "POST", base+"/_matrix/client/v3/createRoom", user, map[string]any{"name": fmt.Sprintf("room %d", i)})["room_id"].(string)
	}
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan [2]int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range work {
				call(client, "PUT", base+fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/r%de%d", url.PathEscape(rooms[job[0]]), job[0], job[1]), user,
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
		body := call(client, "GET", base+"/_matrix/client/v3/sync", user, nil)
		d := time.Since(t0)
		joined := body["rooms"].(map[string]any)["join"].(map[string]any)
		log.Printf("run %d: initial sync %v, %d rooms", i+1, d.Round(time.Millisecond), len(joined))
		times = append(times, float64(d.Milliseconds()))
	}
	sort.Float64s(times)
	fmt.Printf("rooms=%d events/room=%d median initial sync=%.0f ms server RSS=%.1f MiB\n", *nRooms, *nEvents, times[len(times)/2], float64(rssKiB(srv.Process.Pid))/1024)
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
