// Command guestabuse measures what anonymous guests can make the server
// hold: memory through to-device messages, and connections through
// request bodies that never finish.
//
//	go run ./bench/guestabuse -todevice-messages 200 -syncs 16 -stalled 3000
//
// It builds and starts the foyer binary on SQLite in a temporary data dir
// with the server's own defaults (only registration rate limits off; -set
// adds FOYER_* settings, e.g. -set FOYER_HTTP_READ_TIMEOUT=5s) and runs
// two phases:
//
//  1. Guest A sends guest B's device to-device messages of about 900 KiB
//     until the server refuses one or -todevice-messages are sent; then 16
//     initial syncs of B's device run at once, each delivering its queue.
//     It reports what was queued, the refusal, the size of each sync
//     response and the server's peak RSS.
//  2. -stalled connections each send a guest registration's headers and
//     one byte of its body, then nothing. It reports the server's open
//     files before, right after, and after the read timeout, and how many
//     of the connections the server closed.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"foyer/bench/benchserver"
)

func main() {
	messages := flag.Int("todevice-messages", 200, "most to-device messages guest A sends")
	syncs := flag.Int("syncs", 16, "concurrent initial syncs of the recipient's device")
	stalled := flag.Int("stalled", 3000, "connections that stall in a request body")
	wait := flag.Duration("stall-wait", 35*time.Second, "how long to hold stalled connections before counting (the read timeout and a margin)")
	var settings settingList
	flag.Var(&settings, "set", "a FOYER_*=value setting for the server (repeatable)")
	flag.Parse()
	log.SetFlags(0)

	srv := benchserver.StartWith(settings...)
	defer srv.Stop()
	log.Printf("server started: RSS %d KiB, %d open files", srv.RSSKiB(), srv.OpenFiles())
	toDevice(srv, *messages, *syncs)
	stalledBodies(srv, *stalled, *wait)
}

type settingList []string

func (l *settingList) String() string     { return strings.Join(*l, ",") }
func (l *settingList) Set(v string) error { *l = append(*l, v); return nil }

type guest struct{ userID, deviceID, token string }

func registerGuest(c *http.Client, base string) guest {
	r := benchserver.Call(c, "POST", base+"/_matrix/client/v3/register?kind=guest", "", map[string]any{})
	return guest{userID: r["user_id"].(string), deviceID: r["device_id"].(string), token: r["access_token"].(string)}
}

// toDevice is phase 1.
func toDevice(srv *benchserver.Server, messages, syncs int) {
	c := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: syncs + 4}}
	a, b := registerGuest(c, srv.Base), registerGuest(c, srv.Base)
	payload := strings.Repeat("x", 900<<10)
	sent, refusal := 0, "none"
	for i := 0; i < messages; i++ {
		body, _ := json.Marshal(map[string]any{"messages": map[string]any{b.userID: map[string]any{b.deviceID: map[string]any{"pad": payload}}}})
		status, raw := do(c, "PUT", fmt.Sprintf("%s/_matrix/client/v3/sendToDevice/m.bench/t%d", srv.Base, i), a.token, body)
		if status == http.StatusTooManyRequests && strings.Contains(string(raw), "retry_after_ms") && !strings.Contains(string(raw), "waiting") {
			// The guest send rate (the queue cap's 429 says the device
			// has messages "waiting"): wait as told and retry, the queue
			// cap is what this phase is after.
			var e struct {
				RetryAfterMS int64 `json:"retry_after_ms"`
			}
			_ = json.Unmarshal(raw, &e)
			time.Sleep(time.Duration(e.RetryAfterMS+10) * time.Millisecond)
			i--
			continue
		}
		if status != http.StatusOK {
			refusal = fmt.Sprintf("%d %s", status, truncate(raw, 200))
			break
		}
		sent++
	}
	log.Printf("to-device: guest A queued %d messages of 900 KiB (%d MiB) for guest B's device; refusal: %s", sent, sent*900>>10, refusal)
	log.Printf("to-device: before the syncs RSS %d KiB, peak %d KiB", srv.RSSKiB(), srv.PeakRSSKiB())

	var wg sync.WaitGroup
	sizes := make([]int, syncs)
	counts := make([]int, syncs)
	start := time.Now()
	for i := range syncs {
		wg.Go(func() {
			status, raw := do(c, "GET", srv.Base+"/_matrix/client/v3/sync?timeout=0", b.token, nil)
			if status != http.StatusOK {
				log.Fatalf("sync: %d %s", status, truncate(raw, 200))
			}
			var s struct {
				ToDevice struct {
					Events []json.RawMessage `json:"events"`
				} `json:"to_device"`
			}
			_ = json.Unmarshal(raw, &s)
			sizes[i], counts[i] = len(raw), len(s.ToDevice.Events)
		})
	}
	wg.Wait()
	log.Printf("to-device: %d concurrent initial syncs of B's device in %v: response bytes %v, to-device events %v", syncs, time.Since(start).Round(time.Millisecond), sizes, counts)
	log.Printf("to-device: after the syncs RSS %d KiB, peak RSS %d KiB", srv.RSSKiB(), srv.PeakRSSKiB())
}

// stalledBodies is phase 2.
func stalledBodies(srv *benchserver.Server, n int, wait time.Duration) {
	addr := strings.TrimPrefix(srv.Base, "http://")
	before := srv.OpenFiles()
	conns := make([]net.Conn, 0, n)
	dialFailed := 0
	head := "POST /_matrix/client/v3/register?kind=guest HTTP/1.1\r\nHost: " + addr +
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
	for range n {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			dialFailed++
			continue
		}
		if _, err := conn.Write([]byte(head)); err != nil {
			conn.Close()
			dialFailed++
			continue
		}
		conns = append(conns, conn)
	}
	time.Sleep(500 * time.Millisecond)
	log.Printf("stalled bodies: %d connections opened (%d failed to open or write); server open files %d before, %d now", len(conns), dialFailed, before, srv.OpenFiles())

	deadline := time.Now().Add(wait)
	time.Sleep(time.Until(deadline))
	closed := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, conn := range conns {
		wg.Go(func() {
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			// An answer then EOF, EOF, or a reset: the server let go. Only
			// a read still waiting at the deadline is a held connection.
			_, err := io.ReadAll(conn)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				mu.Lock()
				closed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	log.Printf("stalled bodies: after %v the server had closed %d of %d; server open files %d", wait, closed, len(conns), srv.OpenFiles())
	for _, conn := range conns {
		conn.Close()
	}
	// The server answers normally throughout.
	status, _ := do(&http.Client{Timeout: 10 * time.Second}, "GET", srv.Base+"/_matrix/client/versions", "", nil)
	log.Printf("stalled bodies: GET /versions after the phase: %d", status)
}

func do(c *http.Client, method, u, token string, body []byte) (int, []byte) {
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	benchserver.Check(err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func truncate(raw []byte, n int) string {
	if len(raw) > n {
		return string(raw[:n]) + "…"
	}
	return string(raw)
}
