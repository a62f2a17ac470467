package federationsender_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"foyer/internal/federationsender"
	"foyer/internal/rooms/matrixevents"
	"foyer/internal/storage"
	"foyer/internal/testharness/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const ourName = "local.example"

// eachStore runs fn on a fresh database of each kind; reopen gives a new
// handle on the same database, as a restarted server would have.
func eachStore(t *testing.T, fn func(t *testing.T, reopen func() *storage.DB)) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			url := ""
			if backend == "postgres" {
				url = pgtest.URL(t)
			}
			dir := t.TempDir()
			fn(t, func() *storage.DB {
				db, err := storage.Open(context.Background(), url, dir, storage.AccountLimits{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			})
		})
	}
}

// received is one transaction request a fake destination got.
type received struct {
	txnID  string
	status int
	pdus   []string
	edus   []string
	// authErr says what was wrong with the request's X-Matrix signature.
	authErr error
}

// destination is a fake remote server: it checks each transaction's
// signature, records it and answers status(n) to the nth request.
type destination struct {
	name   string
	key    *matrixevents.SigningKey
	status func(n int) int
	// hang, when set, holds every request until it is closed.
	hang    chan struct{}
	arrived chan struct{}

	mu       sync.Mutex
	requests []received
}

func (d *destination) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := received{txnID: strings.TrimPrefix(r.URL.Path, "/_matrix/federation/v1/send/")}
	if r.Method != http.MethodPut || !strings.HasPrefix(r.URL.Path, "/_matrix/federation/v1/send/") {
		rec.authErr = fmt.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
	} else if x, err := matrixevents.ParseXMatrix(r.Header.Get("Authorization")); err != nil {
		rec.authErr = err
	} else if x.Origin != ourName || x.Destination != d.name || x.KeyID != d.key.KeyID() {
		rec.authErr = fmt.Errorf("X-Matrix names %+v", x)
	} else {
		rec.authErr = matrixevents.VerifyXMatrix(x, d.name, r.Method, r.URL.RequestURI(), body, d.key.PublicKey())
	}
	var txn struct {
		Origin string            `json:"origin"`
		PDUs   []json.RawMessage `json:"pdus"`
		EDUs   []json.RawMessage `json:"edus"`
	}
	if err := json.Unmarshal(body, &txn); err != nil || txn.Origin != ourName {
		rec.authErr = errors.Join(rec.authErr, fmt.Errorf("transaction body %s: %v", body, err))
	}
	for _, p := range txn.PDUs {
		rec.pdus = append(rec.pdus, string(p))
	}
	for _, e := range txn.EDUs {
		rec.edus = append(rec.edus, string(e))
	}
	if d.arrived != nil {
		select {
		case d.arrived <- struct{}{}:
		default:
		}
	}
	if d.hang != nil {
		select {
		case <-d.hang:
		case <-r.Context().Done():
		}
	}
	d.mu.Lock()
	rec.status = http.StatusOK
	if d.status != nil {
		rec.status = d.status(len(d.requests))
	}
	d.requests = append(d.requests, rec)
	d.mu.Unlock()
	w.WriteHeader(rec.status)
	w.Write([]byte(`{"pdus":{}}`))
}

func (d *destination) all() []received {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.requests)
}

// accepted lists the PDUs and EDUs of the transactions answered 200.
func (d *destination) accepted(t *testing.T) (pdus, edus []string) {
	t.Helper()
	for _, r := range d.all() {
		if r.authErr != nil {
			t.Fatalf("transaction %s: %v", r.txnID, r.authErr)
		}
		if r.status == http.StatusOK {
			pdus = append(pdus, r.pdus...)
			edus = append(edus, r.edus...)
		}
	}
	return pdus, edus
}

// network is the test HTTP client's transport: it sends a
// matrix-federation://NAME request to NAME's fake server and counts every
// server contacted.
type network struct {
	mu        sync.Mutex
	servers   map[string]string // name → httptest URL
	contacted map[string]int
}

func newNetwork(t *testing.T, dests ...*destination) *network {
	n := &network{servers: map[string]string{}, contacted: map[string]int{}}
	for _, d := range dests {
		srv := httptest.NewServer(d)
		t.Cleanup(func() {
			if d.hang != nil {
				select {
				case <-d.hang:
				default:
					close(d.hang)
				}
			}
			srv.Close()
		})
		n.servers[d.name] = srv.URL
	}
	return n
}

func (n *network) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "matrix-federation" {
		return nil, fmt.Errorf("not a federation URL: %s", req.URL)
	}
	n.mu.Lock()
	n.contacted[req.URL.Host]++
	base, ok := n.servers[req.URL.Host]
	n.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no such server %s", req.URL.Host)
	}
	r := req.Clone(req.Context())
	r.URL.Scheme = "http"
	r.URL.Host = strings.TrimPrefix(base, "http://")
	return http.DefaultTransport.RoundTrip(r)
}

func (n *network) count(name string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.contacted[name]
}

func signingKey(t *testing.T) *matrixevents.SigningKey {
	key, err := matrixevents.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func newSender(db *storage.DB, key *matrixevents.SigningKey, net *network, opt federationsender.Options) *federationsender.Sender {
	opt.ServerName = ourName
	opt.SigningKey = key
	opt.HTTP = &http.Client{Transport: net}
	if opt.MinBackoff == 0 {
		opt.MinBackoff = 5 * time.Millisecond
		opt.MaxBackoff = 20 * time.Millisecond
	}
	return federationsender.New(storage.NewFederationQueue(db), opt)
}

func start(t *testing.T, s *federationsender.Sender) {
	t.Helper()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func queued(t *testing.T, db *storage.DB) []string {
	t.Helper()
	d, err := storage.NewFederationQueue(db).Destinations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func pdu(i int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"pdu":%d}`, i)) }
func edu(i int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"edu":%d}`, i)) }

func strs(items ...json.RawMessage) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = string(it)
	}
	return out
}

// What was queued goes in one signed transaction, PDUs and EDUs each in
// queue order, under a txnId derived from the batch; then the queue is
// empty.
func TestSenderSendsQueueInOneSignedTransaction(t *testing.T) {
	eachStore(t, func(t *testing.T, reopen func() *storage.DB) {
		db := reopen()
		key := signingKey(t)
		remote := &destination{name: "remote.example", key: key}
		net := newNetwork(t, remote)
		s := newSender(db, key, net, federationsender.Options{})
		ctx := context.Background()
		// Queued before Start, so the worker finds all of it at once.
		for i := range 3 {
			if err := s.Queue(ctx, []string{"remote.example"}, pdu(i)); err != nil {
				t.Fatal(err)
			}
			if err := s.QueueEDU(ctx, []string{"remote.example"}, edu(i)); err != nil {
				t.Fatal(err)
			}
		}
		start(t, s)
		waitFor(t, "the transaction", func() bool { return len(remote.all()) == 1 && len(queued(t, db)) == 0 })
		pdus, edus := remote.accepted(t)
		if !slices.Equal(pdus, strs(pdu(0), pdu(1), pdu(2))) || !slices.Equal(edus, strs(edu(0), edu(1), edu(2))) {
			t.Fatalf("sent pdus %v edus %v", pdus, edus)
		}
		txnID := remote.all()[0].txnID
		if txnID == "" || strings.ContainsAny(txnID, "/?") {
			t.Fatalf("txnId %q", txnID)
		}
		if err := s.Queue(ctx, []string{"remote.example"}, json.RawMessage(`not json`)); err == nil {
			t.Fatal("queued a PDU that is not JSON")
		}
	})
}

// A destination that fails (500, then 429) catches up once it is back:
// every item arrives once, in order, and the failed batch is retried under
// the same txnId.
func TestSenderRetriesWithBackoffAndCatchesUp(t *testing.T) {
	eachStore(t, func(t *testing.T, reopen func() *storage.DB) {
		db := reopen()
		key := signingKey(t)
		remote := &destination{name: "remote.example", key: key, status: func(n int) int {
			switch {
			case n < 3:
				return http.StatusInternalServerError
			case n < 5:
				return http.StatusTooManyRequests
			}
			return http.StatusOK
		}}
		net := newNetwork(t, remote)
		s := newSender(db, key, net, federationsender.Options{})
		start(t, s)
		ctx := context.Background()
		var want []string
		for i := range 120 {
			if err := s.Queue(ctx, []string{"remote.example"}, pdu(i)); err != nil {
				t.Fatal(err)
			}
			want = append(want, string(pdu(i)))
		}
		waitFor(t, "the catch-up", func() bool { return len(queued(t, db)) == 0 })
		pdus, _ := remote.accepted(t)
		if !slices.Equal(pdus, want) {
			t.Fatalf("delivered %d PDUs, want %d in order: %v", len(pdus), len(want), pdus)
		}
		reqs := remote.all()
		if len(reqs) < 6 {
			t.Fatalf("%d requests, want the 5 failures and at least one success", len(reqs))
		}
		for _, r := range reqs[1:6] {
			if r.txnID != reqs[0].txnID || !slices.Equal(r.pdus, reqs[0].pdus) {
				t.Fatalf("retry %s %v differs from the first attempt %s %v", r.txnID, r.pdus, reqs[0].txnID, reqs[0].pdus)
			}
		}
		for _, r := range reqs {
			if len(r.pdus) > 50 {
				t.Fatalf("a transaction of %d PDUs", len(r.pdus))
			}
		}
	})
}

// A transaction the destination rejects (4xx other than 429) is dropped,
// and what follows is still sent.
func TestSenderDropsRejectedTransaction(t *testing.T) {
	eachStore(t, func(t *testing.T, reopen func() *storage.DB) {
		db := reopen()
		key := signingKey(t)
		remote := &destination{name: "remote.example", key: key, status: func(n int) int {
			if n == 0 {
				return http.StatusBadRequest
			}
			return http.StatusOK
		}}
		net := newNetwork(t, remote)
		s := newSender(db, key, net, federationsender.Options{})
		ctx := context.Background()
		if err := s.Queue(ctx, []string{"remote.example"}, pdu(0)); err != nil {
			t.Fatal(err)
		}
		start(t, s)
		waitFor(t, "the rejection", func() bool { return len(remote.all()) == 1 && len(queued(t, db)) == 0 })
		if err := s.Queue(ctx, []string{"remote.example"}, pdu(1)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the next transaction", func() bool { return len(remote.all()) == 2 && len(queued(t, db)) == 0 })
		if pdus, _ := remote.accepted(t); !slices.Equal(pdus, strs(pdu(1))) {
			t.Fatalf("accepted %v", pdus)
		}
	})
}

// What a stopped server had queued (its destination down) is delivered by
// the next server over the same database.
func TestSenderResumesAfterRestart(t *testing.T) {
	eachStore(t, func(t *testing.T, reopen func() *storage.DB) {
		key := signingKey(t)
		down := &destination{name: "remote.example", key: key, status: func(int) int { return http.StatusBadGateway }}
		db := reopen()
		first := newSender(db, key, newNetwork(t, down), federationsender.Options{})
		if err := first.Start(); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for i := range 3 {
			if err := first.Queue(ctx, []string{"remote.example"}, pdu(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := first.QueueEDU(ctx, []string{"remote.example"}, edu(0)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a failed attempt", func() bool { return len(down.all()) > 0 })
		first.Stop()
		db.Close()

		up := &destination{name: "remote.example", key: key}
		db = reopen()
		second := newSender(db, key, newNetwork(t, up), federationsender.Options{})
		start(t, second)
		waitFor(t, "the resumed queue", func() bool { return len(queued(t, db)) == 0 })
		pdus, edus := up.accepted(t)
		if !slices.Equal(pdus, strs(pdu(0), pdu(1), pdu(2))) || !slices.Equal(edus, strs(edu(0))) {
			t.Fatalf("after the restart: pdus %v edus %v", pdus, edus)
		}
	})
}

// A blocked server and our own are never contacted, and nothing is
// queued for them; permitted servers get their items.
func TestSenderSkipsBlockedAndOwnServer(t *testing.T) {
	eachStore(t, func(t *testing.T, reopen func() *storage.DB) {
		db := reopen()
		key := signingKey(t)
		good := &destination{name: "good.example", key: key}
		evil := &destination{name: "evil.example", key: key}
		own := &destination{name: ourName, key: key}
		net := newNetwork(t, good, evil, own)
		s := newSender(db, key, net, federationsender.Options{
			Permits: func(name string) bool { return name != "evil.example" },
		})
		start(t, s)
		ctx := context.Background()
		if err := s.Queue(ctx, []string{"evil.example", ourName, "good.example"}, pdu(0)); err != nil {
			t.Fatal(err)
		}
		if err := s.QueueEDU(ctx, []string{"evil.example", "LOCAL.example"}, edu(0)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the permitted server", func() bool { return len(queued(t, db)) == 0 && len(good.all()) == 1 })
		if n := net.count("evil.example") + net.count(ourName) + net.count("LOCAL.example"); n != 0 {
			t.Fatalf("%d requests to a blocked server or our own", n)
		}
		if pdus, _ := good.accepted(t); !slices.Equal(pdus, strs(pdu(0))) {
			t.Fatalf("good.example got %v", pdus)
		}
	})
}

// Queue returns while a destination hangs on a transaction, and Stop ends
// the hanging request, leaving its items queued.
func TestSenderQueueDoesNotWaitOnHangingDestination(t *testing.T) {
	eachStore(t, func(t *testing.T, reopen func() *storage.DB) {
		db := reopen()
		key := signingKey(t)
		slow := &destination{name: "slow.example", key: key, hang: make(chan struct{}), arrived: make(chan struct{}, 1)}
		s := newSender(db, key, newNetwork(t, slow), federationsender.Options{})
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := s.Queue(ctx, []string{"slow.example"}, pdu(0)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-slow.arrived:
		case <-time.After(15 * time.Second):
			t.Fatal("the transaction never reached the destination")
		}
		done := make(chan error, 1)
		go func() {
			for i := 1; i < 20; i++ {
				if err := s.Queue(ctx, []string{"slow.example"}, pdu(i)); err != nil {
					done <- err
					return
				}
			}
			done <- s.QueueEDU(ctx, []string{"slow.example"}, edu(0))
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Queue waited on the hanging destination")
		}
		stopped := make(chan struct{})
		go func() { s.Stop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(15 * time.Second):
			t.Fatal("Stop waited on the hanging destination")
		}
		if d := queued(t, db); !slices.Equal(d, []string{"slow.example"}) {
			t.Fatalf("queued destinations after Stop: %v", d)
		}
	})
}

// A destination's queue keeps only the newest items of each kind beyond
// its caps.
func TestSenderCapsQueuePerDestination(t *testing.T) {
	eachStore(t, func(t *testing.T, reopen func() *storage.DB) {
		db := reopen()
		key := signingKey(t)
		remote := &destination{name: "remote.example", key: key}
		s := newSender(db, key, newNetwork(t, remote), federationsender.Options{MaxQueuedPDUs: 3, MaxQueuedEDUs: 2})
		ctx := context.Background()
		for i := range 5 {
			if err := s.Queue(ctx, []string{"remote.example"}, pdu(i)); err != nil {
				t.Fatal(err)
			}
			if err := s.QueueEDU(ctx, []string{"remote.example"}, edu(i)); err != nil {
				t.Fatal(err)
			}
		}
		start(t, s)
		waitFor(t, "the transaction", func() bool { return len(queued(t, db)) == 0 && len(remote.all()) == 1 })
		pdus, edus := remote.accepted(t)
		if !slices.Equal(pdus, strs(pdu(2), pdu(3), pdu(4))) || !slices.Equal(edus, strs(edu(3), edu(4))) {
			t.Fatalf("after the caps: pdus %v edus %v", pdus, edus)
		}
	})
}

// A queue left for a server that is blocked by the time the sender starts
// is dropped without contacting it.
func TestSenderDropsQueueOfServerBlockedSinceQueued(t *testing.T) {
	eachStore(t, func(t *testing.T, reopen func() *storage.DB) {
		db := reopen()
		key := signingKey(t)
		evil := &destination{name: "evil.example", key: key}
		net := newNetwork(t, evil)
		before := newSender(db, key, net, federationsender.Options{})
		if err := before.Queue(context.Background(), []string{"evil.example"}, pdu(0)); err != nil {
			t.Fatal(err)
		}
		if d := queued(t, db); !slices.Equal(d, []string{"evil.example"}) {
			t.Fatalf("queued for %v", d)
		}
		after := newSender(db, key, net, federationsender.Options{
			Permits: func(name string) bool { return name != "evil.example" },
		})
		start(t, after)
		if d := queued(t, db); len(d) != 0 {
			t.Fatalf("still queued for %v", d)
		}
		after.Stop()
		if n := net.count("evil.example"); n != 0 {
			t.Fatalf("%d requests to the blocked server", n)
		}
	})
}

// A destination that was down is retried as soon as it is heard from,
// however long the backoff it is in: the second attempt comes after
// HeardFrom, not after the hour the backoff would otherwise last.
func TestSenderRetriesAtOnceWhenHeardFrom(t *testing.T) {
	eachStore(t, func(t *testing.T, reopen func() *storage.DB) {
		db := reopen()
		key := signingKey(t)
		remote := &destination{name: "remote.example", key: key, arrived: make(chan struct{}, 1), status: func(n int) int {
			if n == 0 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		}}
		net := newNetwork(t, remote)
		s := newSender(db, key, net, federationsender.Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
		start(t, s)
		s.HeardFrom("remote.example") // nothing is queued yet: no effect
		if err := s.Queue(context.Background(), []string{"remote.example"}, pdu(1)); err != nil {
			t.Fatal(err)
		}
		<-remote.arrived
		waitFor(t, "the failed first attempt", func() bool { return len(remote.all()) == 1 })
		// The worker is now in its hour of backoff; the destination speaks.
		waitFor(t, "the retry once heard from", func() bool {
			s.HeardFrom("remote.example")
			return len(queued(t, db)) == 0
		})
		if pdus, _ := remote.accepted(t); !slices.Equal(pdus, []string{string(pdu(1))}) {
			t.Fatalf("delivered %v", pdus)
		}
	})
}

// A transaction stays within 4 MiB however large the queued EDUs (a
// receiver refuses a larger request whole): three EDUs of 1.5 MiB leave
// in two transactions, all delivered; an item larger than the bound
// still leaves, alone.
func TestSenderBoundsTransactionBytes(t *testing.T) {
	eachStore(t, func(t *testing.T, reopen func() *storage.DB) {
		db := reopen()
		key := signingKey(t)
		remote := &destination{name: "remote.example", key: key}
		net := newNetwork(t, remote)
		s := newSender(db, key, net, federationsender.Options{})
		ctx := context.Background()
		big := func(i int, size int) json.RawMessage {
			return json.RawMessage(fmt.Sprintf(`{"edu":%d,"pad":"%s"}`, i, strings.Repeat("x", size)))
		}
		for i := range 3 {
			if err := s.QueueEDU(ctx, []string{"remote.example"}, big(i, 1536<<10)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.QueueEDU(ctx, []string{"remote.example"}, big(3, 5<<20)); err != nil {
			t.Fatal(err)
		}
		start(t, s)
		waitFor(t, "the delivery", func() bool { return len(queued(t, db)) == 0 })
		reqs := remote.all()
		var sizes []int
		delivered := 0
		for _, r := range reqs {
			n := 0
			for _, e := range r.edus {
				n += len(e)
			}
			sizes = append(sizes, len(r.edus))
			delivered += len(r.edus)
			if n > 4<<20 && len(r.edus) > 1 {
				t.Errorf("a transaction of %d EDUs and %d bytes", len(r.edus), n)
			}
		}
		if delivered != 4 || len(reqs) < 3 {
			t.Fatalf("%d EDUs delivered in transactions of %v, want 4 in at least 3", delivered, sizes)
		}
	})
}
