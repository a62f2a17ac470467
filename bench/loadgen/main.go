// Command loadgen drives one scenario of the performance goals against a
// freshly built foyer over HTTP and reports its rate, with the server's
// CPU time and memory sampled from /proc:
//
//	go run ./bench/loadgen -scenario versions   -clients 16 -duration 10s
//	go run ./bench/loadgen -scenario onboarding -clients 8  -duration 20s
//
// versions: GET /_matrix/client/versions in a loop per client (the
// trivial request: routing, middleware, metrics, JSON).
// onboarding: per client, register a guest, join one shared room, and do
// a first /sync (lazy-loading members, as Element and matrix-js-sdk do;
// -lazy=false for all members) that must show the room just joined; the room grows by
// one member per journey. It reports the rate per second, the first and
// last five seconds, and the first syncs that missed the room.
//
// -json prints the result as one JSON object. -env passes FOYER_*
// settings to the server (comma-separated).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
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
	Errors     int64     `json:"errors"`
	CPUSeconds float64   `json:"server_cpu_seconds"`
	CPUPerOp   float64   `json:"server_cpu_ms_per_op"`
	RSSMiB     float64   `json:"server_rss_mib"`
	PeakRSSMiB float64   `json:"server_peak_rss_mib"`
	Extra      []float64 `json:"-"`
}

func main() {
	scenario := flag.String("scenario", "versions", "versions | onboarding")
	clients := flag.Int("clients", 16, "concurrent clients")
	duration := flag.Duration("duration", 10*time.Second, "how long to drive the load")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	env := flag.String("env", "", "extra FOYER_* settings for the server, comma-separated")
	lazy := flag.Bool("lazy", true, "onboarding: first sync with lazy-loaded members, as Element and matrix-js-sdk do")
	flag.Parse()
	log.SetFlags(0)

	var extra []string
	if *env != "" {
		extra = strings.Split(*env, ",")
	}
	srv := benchserver.StartWith(extra...)
	defer srv.Stop()
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: *clients * 2, MaxConnsPerHost: *clients * 2}}

	var op func(c *http.Client) (ok, missing bool)
	switch *scenario {
	case "versions":
		op = versions(srv.Base)
	case "onboarding":
		op = onboarding(client, srv, *lazy)
	default:
		log.Fatalf("unknown scenario %q", *scenario)
	}

	seconds := int(duration.Seconds())
	perSecond := make([]atomic.Int64, seconds+1)
	var done, missing, errs atomic.Int64
	cpu0 := srv.CPUSeconds()
	start := time.Now()
	deadline := start.Add(*duration)
	var wg sync.WaitGroup
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				ok, miss := op(client)
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
		Rate: float64(done.Load()) / elapsed, Missing: missing.Load(), Errors: errs.Load(),
		CPUSeconds: srv.CPUSeconds() - cpu0, RSSMiB: float64(srv.RSSKiB()) / 1024, PeakRSSMiB: float64(srv.PeakRSSKiB()) / 1024}
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
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	fmt.Printf("%s, %d clients, %.1f s: %d done, %.0f/s (first 5 s %.0f/s, last 5 s %.0f/s), %d errors, %d first syncs missing the room\n",
		res.Scenario, res.Clients, res.Seconds, res.Done, res.Rate, res.First5, res.Last5, res.Errors, res.Missing)
	fmt.Printf("server: %.2f s CPU (%.3f ms per op), RSS %.1f MiB, peak %.1f MiB\n", res.CPUSeconds, res.CPUPerOp, res.RSSMiB, res.PeakRSSMiB)
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

func versions(base string) func(*http.Client) (bool, bool) {
	u := base + "/_matrix/client/versions"
	return func(c *http.Client) (bool, bool) {
		status, _ := request(c, "GET", u, "", "")
		return status == 200, false
	}
}

// onboarding is one guest's journey into a shared room.
func onboarding(setup *http.Client, srv *benchserver.Server, lazy bool) func(*http.Client) (bool, bool) {
	syncURL := srv.Base + "/_matrix/client/v3/sync?timeout=0"
	if lazy {
		syncURL += "&filter=" + url.QueryEscape(`{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":20}}}`)
	}
	owner := srv.Register(setup, "owner")
	room := benchserver.Call(setup, "POST", srv.Base+"/_matrix/client/v3/createRoom", owner, map[string]any{
		"preset": "public_chat",
		"initial_state": []map[string]any{{"type": "m.room.guest_access", "state_key": "",
			"content": map[string]any{"guest_access": "can_join"}}},
	})["room_id"].(string)
	join := srv.Base + "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/join"
	return func(c *http.Client) (bool, bool) {
		status, raw := request(c, "POST", srv.Base+"/_matrix/client/v3/register?kind=guest", "", `{}`)
		if status != 200 {
			return false, false
		}
		var reg struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(raw, &reg) != nil {
			return false, false
		}
		if status, _ := request(c, "POST", join, reg.AccessToken, `{}`); status != 200 {
			return false, false
		}
		status, raw = request(c, "GET", syncURL, reg.AccessToken, "")
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
