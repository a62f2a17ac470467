package integration

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The writer of a two-process cluster is killed with -9 in the middle of
// sends; clients retry through the follower as a load balancer would
// route them, with their transaction IDs. The follower takes the lease
// over, nothing acknowledged is lost, no retried send is stored twice,
// the room stays one linear DAG, and a sync token from before the kill
// goes on working.
func TestClusterWriterKilledMidWrite(t *testing.T) {
	args := append(storageArgs(t, "postgres"), "--listen", "127.0.0.1:0", "--registration", "open")
	env := foyerEnv()
	writer := startFoyerProc(t, args, env)
	followerArgs := append([]string{}, args...)
	for i := range followerArgs {
		if followerArgs[i] == "--data-dir" {
			followerArgs[i+1] = t.TempDir()
		}
	}
	follower := startFoyerProc(t, followerArgs, env)
	if !strings.Contains(follower.stdout.String(), "Another process writes to this database") {
		t.Fatalf("the second process does not say it follows:\n%s", follower.stdout.String())
	}

	tok := follower.must("POST", "/_matrix/client/v3/register", "", map[string]any{
		"username": "alice", "password": "alice-secret-1", "auth": map[string]any{"type": "m.login.dummy"},
	}).Str("access_token")
	room := follower.must("POST", cs+"/createRoom", tok, map[string]any{"preset": "public_chat"}).Str("room_id")

	// Senders: two on each process; a sender whose process is gone moves
	// to the other, and every failed send is retried with its
	// transaction ID until it is acknowledged.
	var mu sync.Mutex
	acked := map[string]string{}
	// begunAfterToken are the sends begun after the sync token taken just
	// before the kill was answered: a sync from it must bring each.
	begunAfterToken := map[string]bool{}
	var tokenTaken atomic.Bool
	var killed atomic.Bool
	var afterKill atomic.Int64
	var killedAt, firstAfterKill atomic.Int64 // Unix nanoseconds
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for s := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := []*foyerProc{writer, follower}[s%2]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf("s%d-%d", s, i)
				afterToken := tokenTaken.Load()
				for attempt := 0; ; attempt++ {
					if attempt > 0 {
						select {
						case <-stop:
							return
						case <-time.After(200 * time.Millisecond):
						}
					}
					r, err := target.do("PUT", roomPath(room, "/send/m.room.message/"+body), tok, map[string]any{"msgtype": "m.text", "body": body})
					if err != nil {
						target = follower // its process is gone: the balancer routes elsewhere
						continue
					}
					if r.Status == 200 {
						mu.Lock()
						acked[body] = r.Str("event_id")
						if afterToken {
							begunAfterToken[body] = true
						}
						mu.Unlock()
						if killed.Load() {
							afterKill.Add(1)
							firstAfterKill.CompareAndSwap(0, time.Now().UnixNano())
						}
						break
					}
					if r.Status != 503 {
						t.Errorf("send %s: %s", body, r)
						return
					}
				}
			}
		}()
	}
	time.Sleep(time.Second)
	since := follower.must("GET", cs+"/sync", tok, nil).Str("next_batch")
	tokenTaken.Store(true)
	writer.kill9()
	killedAt.Store(time.Now().UnixNano())
	killed.Store(true)
	for afterKill.Load() < 40 && time.Since(time.Unix(0, killedAt.Load())) < 40*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if afterKill.Load() < 40 {
		t.Fatalf("only %d sends acknowledged in the 40 s after the writer was killed", afterKill.Load())
	}
	t.Logf("%d sends acknowledged, %d of them after the kill; the first %v after it",
		len(acked), afterKill.Load(), time.Duration(firstAfterKill.Load()-killedAt.Load()).Round(100*time.Millisecond))

	stored := storedRoom(t, flagValue(args, "--data-dir"), flagValue(args, "--database-url"), room)
	checkLinear(t, stored)
	seen := map[string]string{}
	for _, e := range stored {
		if e.Type != "m.room.message" {
			continue
		}
		if _, dup := seen[e.Body]; dup {
			t.Fatalf("%s stored twice: a retried send was not recognised by its transaction ID", e.Body)
		}
		seen[e.Body] = e.ID
	}
	for body, id := range acked {
		if seen[body] != id {
			t.Fatalf("%s was acknowledged as %s, stored as %q", body, id, seen[body])
		}
	}

	// The sync token from just before the kill brings every send begun
	// after it, through the process that writes now.
	got := map[string]bool{}
	for deadline := time.Now().Add(20 * time.Second); len(got) < len(begunAfterToken) && time.Now().Before(deadline); {
		r := follower.must("GET", cs+"/sync?timeout=1000&filter="+url.QueryEscape(`{"room":{"timeline":{"limit":200}}}`)+"&since="+url.QueryEscape(since), tok, nil)
		rooms, _ := r.JSON["rooms"].(map[string]any)
		join, _ := rooms["join"].(map[string]any)
		rm, _ := join[room].(map[string]any)
		tl, _ := rm["timeline"].(map[string]any)
		if limited, _ := tl["limited"].(bool); limited {
			t.Fatalf("the sync from before the kill came back limited: it skipped events")
		}
		evs, _ := tl["events"].([]any)
		for _, e := range evs {
			if id, _ := e.(map[string]any)["event_id"].(string); id != "" {
				got[id] = true
			}
		}
		since = r.Str("next_batch")
	}
	for body := range begunAfterToken {
		if id := acked[body]; !got[id] {
			t.Fatalf("%s (%s) never came in the sync from a token taken before the kill", body, id)
		}
	}
}
