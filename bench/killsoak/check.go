package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// readHistory is a room's whole timeline, read forwards from its start
// with /messages.
func readHistory(ctx context.Context, c *client, token, roomID string, maxPages int) ([]eventRef, error) {
	var events []eventRef
	from := ""
	for range maxPages {
		q := url.Values{"dir": {"f"}, "limit": {"500"}}
		if from != "" {
			q.Set("from", from)
		}
		r, err := c.must(ctx, "GET", roomPath(roomID, "/messages?"+q.Encode()), token, nil)
		if err != nil {
			return nil, err
		}
		var p messagesPage
		if err := json.Unmarshal(r.raw, &p); err != nil {
			return nil, fmt.Errorf("reading /messages of %s: %w", roomID, err)
		}
		events = append(events, p.Chunk...)
		if len(p.Chunk) == 0 || p.End == "" {
			return events, nil
		}
		from = p.End
	}
	return nil, fmt.Errorf("the history of %s did not end within %d pages", roomID, maxPages)
}

// verdict compares what was acknowledged with what the rooms hold and
// what each reader was given.
type verdict struct {
	lost       []ack
	duplicated int      // extra copies of a message, by body (a retried txn stored twice, or one event listed twice)
	dupBodies  []string // some of them, for the report
	skipped    [][]ack  // per reader: acknowledged events it was never given
}

func judge(acks []ack, histories map[string][]eventRef, readers []*reader) verdict {
	var v verdict
	inRoom := map[string]map[string]int{} // room → event ID → copies
	bodies := map[string]int{}
	for roomID, events := range histories {
		inRoom[roomID] = map[string]int{}
		for _, ev := range events {
			inRoom[roomID][ev.EventID]++
			if ev.Type == "m.room.message" && strings.HasPrefix(ev.Content.Body, "killsoak ") {
				bodies[ev.Content.Body]++
			}
		}
	}
	for _, a := range acks {
		if inRoom[a.roomID][a.eventID] == 0 {
			v.lost = append(v.lost, a)
		}
	}
	for body, n := range bodies {
		if n > 1 {
			v.duplicated += n - 1
			v.dupBodies = append(v.dupBodies, body)
		}
	}
	for _, rd := range readers {
		v.skipped = append(v.skipped, rd.missing(acks))
	}
	return v
}

func (v verdict) skippedTotal() int {
	n := 0
	for _, s := range v.skipped {
		n += len(s)
	}
	return n
}

// describe says what went wrong, a few examples of each kind, so a
// failure can be traced in the server log.
func (v verdict) describe(logf func(format string, args ...any)) {
	for i, a := range v.lost {
		if i == 5 {
			logf("lost: … %d more", len(v.lost)-5)
			break
		}
		logf("lost: %s in %s (txn %s, acknowledged by process %d)", a.eventID, a.roomID, a.txnID, a.epoch+1)
	}
	for i, b := range v.dupBodies {
		if i == 5 {
			logf("duplicated: … %d more", len(v.dupBodies)-5)
			break
		}
		logf("duplicated: %q stored more than once", b)
	}
	for r, missing := range v.skipped {
		if len(missing) == 0 {
			continue
		}
		byEpoch := map[int64]int{}
		for _, a := range missing {
			byEpoch[a.epoch+1]++
		}
		logf("skipped: reader %d was never given %d acknowledged events (by the process that acknowledged them: %v); first: %s in %s (txn %s)",
			r, len(missing), byEpoch, missing[0].eventID, missing[0].roomID, missing[0].txnID)
	}
}
