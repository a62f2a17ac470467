package cluster

import (
	"bytes"
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

// LongPolls is a follower's client API: /sync and sliding-sync
// long-polls are held here, woken by the wake feed, and each look is a
// request to the writer that answers at once; every other request is
// forwarded as it came. The writer computes every answer (its state is
// the one that is current); the waiting, and the connections that wait,
// stay with the follower.
type LongPolls struct {
	fwd         *Forwarder
	feed        *WakeFeed
	notifier    *clientsync.Notifier
	stopping    context.Context
	slidingPath string
	// maxWait caps a held long-poll, as the client API caps its timeout.
	maxWait time.Duration
	held    atomic.Int64
}

// NewLongPolls serves with fwd, holding long-polls on notifier (woken by
// feed) until stopping ends; slidingPath is sliding sync's route and
// maxWait the client API's cap on a long-poll's timeout.
func NewLongPolls(fwd *Forwarder, feed *WakeFeed, notifier *clientsync.Notifier, stopping context.Context, slidingPath string, maxWait time.Duration) *LongPolls {
	return &LongPolls{fwd: fwd, feed: feed, notifier: notifier, stopping: stopping, slidingPath: slidingPath, maxWait: maxWait}
}

// WakeAll makes every long-poll held here look again (this process
// became the writer).
func (l *LongPolls) WakeAll() { l.notifier.WakeAll() }

// Held counts the long-polls waiting here now.
func (l *LongPolls) Held() int64 { return l.held.Load() }

// maxHeldBody bounds the sliding-sync request body a follower keeps to
// ask again with; a larger one is forwarded as it came.
const maxHeldBody = 1 << 20

func (l *LongPolls) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	timeout, sliding, ok := l.heldPoll(r)
	if !ok {
		l.fwd.ServeHTTP(w, r)
		return
	}
	var body []byte
	if sliding {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, maxHeldBody+1))
		if err != nil {
			return // the client went away mid-body
		}
		if len(body) > maxHeldBody {
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
			l.fwd.ServeHTTP(w, r)
			return
		}
	}
	l.fwd.allowLong(w)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	// last is the latest empty /sync answer, given when nothing comes; a
	// sliding-sync connection asks for its final answer instead (the
	// writer records the connection's state only then).
	var last json.RawMessage
	final := func() {
		if !sliding && last != nil {
			writeRaw(w, last)
			return
		}
		if _, done := l.look(w, r, body, true); !done {
			writerUnavailable(w)
		}
	}
	for {
		if l.fwd.opts.Member.Writing() {
			// This process writes now: the client asks it next time.
			final()
			return
		}
		ans, done := l.look(w, r, body, false)
		if done {
			return
		}
		last = ans.Response
		waiter := l.notifier.Listen(ans.Listen.UserID, ans.Listen.Rooms)
		if l.feed.WokenAfter(ans.Listen.Wake, ans.Listen.UserID, ans.Listen.Rooms) {
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
			final()
			return
		}
	}
}

// look asks the writer once; final asks for an answer without waiting
// (timeout 0). done means the client's answer is written (something new,
// a final answer, or an error); else ans says what to wait for.
func (l *LongPolls) look(w http.ResponseWriter, r *http.Request, body []byte, final bool) (ans polledAnswer, done bool) {
	addr, ok := l.fwd.opts.Member.AwaitWriter(r.Context(), writerWait)
	if !ok {
		writerUnavailable(w)
		return ans, true
	}
	out := r.Clone(r.Context())
	out.URL = &url.URL{Scheme: "http", Host: addr, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	out.RequestURI = ""
	out.Body, out.ContentLength = http.NoBody, 0
	if len(body) > 0 {
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	out.Header = l.fwd.forwardedHeader(r)
	if final {
		q := r.URL.Query()
		q.Set("timeout", "0")
		out.URL.RawQuery = q.Encode()
	} else {
		out.Header.Set(pollElsewhereHeader, "1")
	}
	resp, err := l.fwd.transport.RoundTrip(out)
	if err != nil {
		l.fwd.unreachable(w, r, err)
		return ans, true
	}
	defer resp.Body.Close()
	if final || resp.StatusCode != http.StatusOK || resp.Header.Get(PollAnswerHeader) != "wait" {
		copyAnswer(w, resp)
		return ans, true
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxPolledAnswer))
	if err == nil {
		err = json.Unmarshal(raw, &ans)
	}
	if err != nil {
		l.fwd.unreachable(w, r, err)
		return ans, true
	}
	return ans, false
}

// heldPoll recognises the long-polls a follower holds: an incremental
// /sync, or a sliding-sync request on an existing connection, with a
// timeout. Anything else (an initial sync, full_state, a bad parameter
// the writer will refuse) is forwarded as it came.
func (l *LongPolls) heldPoll(r *http.Request) (timeout time.Duration, sliding, ok bool) {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && (r.URL.Path == "/_matrix/client/v3/sync" || r.URL.Path == "/_matrix/client/r0/sync"):
		if q.Get("since") == "" || (q.Get("full_state") != "" && q.Get("full_state") != "false") {
			return 0, false, false
		}
	case r.Method == http.MethodPost && l.slidingPath != "" && r.URL.Path == l.slidingPath:
		if q.Get("pos") == "" {
			return 0, false, false
		}
		sliding = true
	default:
		return 0, false, false
	}
	ms, err := strconv.ParseInt(q.Get("timeout"), 10, 64)
	if err != nil || ms <= 0 {
		return 0, false, false
	}
	return min(time.Duration(ms)*time.Millisecond, l.maxWait), sliding, true
}

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
