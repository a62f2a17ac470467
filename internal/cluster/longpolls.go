package cluster

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"foyer/internal/clientsync"
)

// PolledAnswer is the writer's answer to a long-poll a follower holds
// when nothing is new: what to wait for, and the empty sync to give the
// client if nothing comes.
type PolledAnswer struct {
	Listen   clientsync.ListenFor `json:"listen"`
	Response any                  `json:"response"`
}

// polledAnswer is PolledAnswer as the follower reads it.
type polledAnswer struct {
	Listen   clientsync.ListenFor `json:"listen"`
	Response json.RawMessage      `json:"response"`
}

// maxPolledAnswer bounds the body of a PolledAnswer a follower reads (an
// empty sync and a user's room list).
const maxPolledAnswer = 16 << 20

// LongPolls is a follower's client API: /sync long-polls are held here,
// woken by the wake feed, and each look is a request to the writer that
// answers at once; every other request is forwarded as it came. The
// writer computes every answer (its state is the one that is current);
// the waiting, and the connections that wait, stay with the follower.
type LongPolls struct {
	fwd      *Forwarder
	feed     *WakeFeed
	notifier *clientsync.Notifier
	stopping context.Context
	held     atomic.Int64
}

// NewLongPolls serves with fwd, holding /sync long-polls on notifier
// (woken by feed) until stopping ends.
func NewLongPolls(fwd *Forwarder, feed *WakeFeed, notifier *clientsync.Notifier, stopping context.Context) *LongPolls {
	return &LongPolls{fwd: fwd, feed: feed, notifier: notifier, stopping: stopping}
}

// WakeAll makes every long-poll held here look again (this process
// became the writer).
func (l *LongPolls) WakeAll() { l.notifier.WakeAll() }

// Held counts the long-polls waiting here now.
func (l *LongPolls) Held() int64 { return l.held.Load() }

func (l *LongPolls) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	timeout, ok := heldSync(r)
	if !ok {
		l.fwd.ServeHTTP(w, r)
		return
	}
	l.fwd.allowLong(w)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var last json.RawMessage
	for {
		if l.fwd.opts.Member.Writing() && last != nil {
			// This process writes now: the client asks it next time.
			writeRaw(w, last)
			return
		}
		ans, done := l.look(w, r)
		if done {
			return
		}
		last = ans.Response
		waiter := l.notifier.Listen(ans.Listen.UserID, ans.Listen.Rooms)
		if l.feed.WokenAfter(ans.Listen.Position, ans.Listen.UserID, ans.Listen.Rooms) {
			l.notifier.Stop(waiter)
			continue
		}
		l.held.Add(1)
		woken := false
		select {
		case <-waiter.C:
			woken = true
		case <-deadline.C:
		case <-l.stopping.Done():
		case <-r.Context().Done():
		}
		l.held.Add(-1)
		l.notifier.Stop(waiter)
		if r.Context().Err() != nil {
			return
		}
		if !woken {
			writeRaw(w, last)
			return
		}
	}
}

// look asks the writer once. done means the client's answer is written
// (something new, or an error); else ans says what to wait for.
func (l *LongPolls) look(w http.ResponseWriter, r *http.Request) (ans polledAnswer, done bool) {
	addr, ok := l.fwd.opts.Member.AwaitWriter(r.Context(), writerWait)
	if !ok {
		writerUnavailable(w)
		return ans, true
	}
	out := r.Clone(r.Context())
	out.URL = &url.URL{Scheme: "http", Host: addr, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	out.RequestURI = ""
	out.Body = http.NoBody
	out.ContentLength = 0
	out.Header = l.fwd.forwardedHeader(r)
	out.Header.Set(pollElsewhereHeader, "1")
	resp, err := l.fwd.transport.RoundTrip(out)
	if err != nil {
		l.fwd.unreachable(w, r, err)
		return ans, true
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(PollAnswerHeader) != "wait" {
		copyAnswer(w, resp)
		return ans, true
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPolledAnswer))
	if err == nil {
		err = json.Unmarshal(body, &ans)
	}
	if err != nil {
		l.fwd.unreachable(w, r, err)
		return ans, true
	}
	return ans, false
}

// heldSync recognises an incremental /sync with a timeout: the requests
// a follower holds. Anything else (an initial sync, full_state, a bad
// parameter the writer will refuse) is forwarded as it came.
func heldSync(r *http.Request) (time.Duration, bool) {
	if r.Method != http.MethodGet {
		return 0, false
	}
	switch r.URL.Path {
	case "/_matrix/client/v3/sync", "/_matrix/client/r0/sync":
	default:
		return 0, false
	}
	q := r.URL.Query()
	if q.Get("since") == "" || (q.Get("full_state") != "" && q.Get("full_state") != "false") {
		return 0, false
	}
	ms, err := strconv.ParseInt(q.Get("timeout"), 10, 64)
	if err != nil || ms <= 0 {
		return 0, false
	}
	return min(time.Duration(ms)*time.Millisecond, maxLongPoll), true
}

// maxLongPoll is the client API's cap on a sync's timeout.
const maxLongPoll = 5 * time.Minute

func writeRaw(w http.ResponseWriter, body json.RawMessage) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// hopHeaders are a connection's own, not passed on by a proxy.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func copyAnswer(w http.ResponseWriter, resp *http.Response) {
	for k, vs := range resp.Header {
		if strings.HasPrefix(k, "X-Foyer-") {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, h := range hopHeaders {
		w.Header().Del(h)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
