package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// syncFilter keeps sync answers to timelines, with the largest timeline
// Foyer returns, so that a woken reader rarely sees a limited timeline.
const syncFilter = `{"room":{"state":{"types":[]},"timeline":{"limit":200},"ephemeral":{"types":[]},"account_data":{"types":[]}},"presence":{"types":[]},"account_data":{"types":[]}}`

// reader long-polls /sync like a client that stays open across server
// restarts: it keeps its next_batch token through every transport error
// and records every timeline event it is given.
type reader struct {
	id          int
	token       string
	c           *client
	syncTimeout time.Duration
	log         func(format string, args ...any)

	since string // the latest next_batch; only the reader's goroutine touches it

	mu   sync.Mutex
	seen map[string]int // event ID → times delivered

	syncs       atomic.Int64 // 200 answers
	failures    atomic.Int64 // transport errors and retryable answers
	refused     atomic.Int64 // other answers (e.g. a token refused after a restart)
	limited     atomic.Int64 // timelines marked limited, whose gap was filled with /messages
	gapFilled   atomic.Int64 // events only the gap filling delivered
	redelivered atomic.Int64 // events delivered a second time
}

// start takes the first token with an initial sync.
func (rd *reader) start(ctx context.Context) error {
	r, err := rd.c.must(ctx, "GET", "/_matrix/client/v3/sync?timeout=0&filter="+url.QueryEscape(syncFilter), rd.token, nil)
	if err != nil {
		return err
	}
	rd.since = r.str("next_batch")
	rd.seen = map[string]int{}
	return nil
}

func (rd *reader) run(ctx context.Context) {
	rng := rand.New(rand.NewPCG(uint64(1000+rd.id), uint64(time.Now().UnixNano())))
	timeoutMS := rd.syncTimeout.Milliseconds()
	failedInARow := 0
	for ctx.Err() == nil {
		path := "/_matrix/client/v3/sync?timeout=" + strconv.FormatInt(timeoutMS, 10) + "&since=" + url.QueryEscape(rd.since) + "&filter=" + url.QueryEscape(syncFilter)
		r, err := rd.c.do(ctx, rd.syncTimeout+20*time.Second, "GET", path, rd.token, nil)
		if err != nil || r.retryable() {
			if ctx.Err() == nil {
				rd.failures.Add(1)
			}
			// Clients back off while the server is away: 100 ms doubling
			// to 1.6 s, with jitter. The writers retry sooner, so a reader
			// usually comes back to writes the new process already made.
			backoff := 100 * time.Millisecond << min(failedInARow, 4)
			failedInARow++
			sleepCtx(ctx, backoff/2+time.Duration(rng.Int64N(int64(backoff))))
			continue
		}
		failedInARow = 0
		if r.status != 200 || r.str("next_batch") == "" {
			rd.refused.Add(1)
			rd.log("reader %d: sync since %s refused: %s", rd.id, rd.since, r)
			sleepCtx(ctx, 500*time.Millisecond)
			continue
		}
		rd.syncs.Add(1)
		var body syncBody
		if err := json.Unmarshal(r.raw, &body); err != nil {
			rd.refused.Add(1)
			rd.log("reader %d: unreadable sync answer: %v", rd.id, err)
			continue
		}
		for roomID, jr := range body.Rooms.Join {
			if jr.Timeline.Limited && jr.Timeline.PrevBatch != "" {
				rd.limited.Add(1)
				rd.fillGap(ctx, roomID, jr.Timeline.PrevBatch, rd.since)
			}
			for _, ev := range jr.Timeline.Events {
				rd.record(ev.EventID, false)
			}
		}
		rd.since = body.NextBatch
	}
}

// fillGap reads what a limited timeline left out, between the previous
// token and the timeline's prev_batch, as a client does with /messages.
func (rd *reader) fillGap(ctx context.Context, roomID, from, to string) {
	for page := 0; page < 200 && from != "" && ctx.Err() == nil; page++ {
		q := url.Values{"dir": {"b"}, "from": {from}, "to": {to}, "limit": {"200"}}
		r, err := rd.c.do(ctx, 30*time.Second, "GET", roomPath(roomID, "/messages?"+q.Encode()), rd.token, nil)
		// A kill cuts a gap fill off as it does a sync: retry the page
		// while the server restarts.
		for retry := 0; (err != nil || r.retryable()) && retry < 100 && ctx.Err() == nil; retry++ {
			sleepCtx(ctx, 200*time.Millisecond)
			r, err = rd.c.do(ctx, 30*time.Second, "GET", roomPath(roomID, "/messages?"+q.Encode()), rd.token, nil)
		}
		if err != nil || r.status != 200 {
			// The events stay unseen and are reported as skipped.
			rd.log("reader %d: filling a gap in %s: %v %v", rd.id, roomID, err, r)
			return
		}
		var p messagesPage
		if err := json.Unmarshal(r.raw, &p); err != nil || len(p.Chunk) == 0 {
			return
		}
		for _, ev := range p.Chunk {
			rd.record(ev.EventID, true)
		}
		from = p.End
	}
}

func (rd *reader) record(eventID string, byGapFill bool) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	n := rd.seen[eventID]
	rd.seen[eventID] = n + 1
	switch {
	case n > 0:
		rd.redelivered.Add(1)
	case byGapFill:
		rd.gapFilled.Add(1)
	}
}

// missing are the acknowledged events the reader has not been given.
func (rd *reader) missing(acks []ack) []ack {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	var out []ack
	for _, a := range acks {
		if rd.seen[a.eventID] == 0 {
			out = append(out, a)
		}
	}
	return out
}

type syncBody struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events    []eventRef `json:"events"`
				Limited   bool       `json:"limited"`
				PrevBatch string     `json:"prev_batch"`
			} `json:"timeline"`
		} `json:"join"`
	} `json:"rooms"`
}

type messagesPage struct {
	Chunk []eventRef `json:"chunk"`
	End   string     `json:"end"`
}

type eventRef struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	Content struct {
		Body string `json:"body"`
	} `json:"content"`
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
