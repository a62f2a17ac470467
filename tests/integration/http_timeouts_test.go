package integration

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"foyer/internal/outbound/outboundtest"
	"foyer/internal/testharness"
)

// hostPort is the host:port of a test server's URL.
func hostPort(hs *testharness.Homeserver) string {
	return strings.TrimPrefix(hs.URL, "http://")
}

// closedWithin reads c until the server closes it, and fails the test when
// it is still open after limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limit))
	got, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server still held the connection after %s (read %d bytes)", limit, len(got))
	}
	return got
}

// A request body that stalls (the headers promise bytes that never come)
// is dropped after http.read_timeout instead of holding a connection, and
// its file descriptor, forever.
func TestStalledBodiesAreDropped(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	cfg.HTTP.ReadTimeout = time.Second
	cfg.HTTP.MaxConnectionsPerIP = 0
	hs := testharness.Start(t, cfg)

	const stalled = 40
	conns := make([]net.Conn, 0, stalled)
	for i := range stalled {
		c, err := net.Dial("tcp", hostPort(hs))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Half send part of the body, half none of it.
		partial := ""
		if i%2 == 0 {
			partial = `{"initial_device`
		}
		fmt.Fprintf(c, "POST /_matrix/client/v3/register?kind=guest HTTP/1.1\r\nHost: foyer\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n%s", partial)
		conns = append(conns, c)
	}
	for _, c := range conns {
		// The server gives up on the body with 408, if the client still
		// listens, and closes the connection.
		if got := closedWithin(t, c, 15*time.Second); !bytes.HasPrefix(got, []byte("HTTP/1.1 408 ")) {
			t.Fatalf("a stalled body was answered %q", firstLine(got))
		}
	}
	// The server still serves everyone else.
	if r := hs.Do(t, "GET", "/_matrix/client/versions", "", nil); r.Status != 200 {
		t.Fatalf("versions after the stalled bodies: %s", r)
	}
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\r\n"))
	return string(line)
}

// One address may hold http.max_connections_per_ip connections across
// the plain and the TLS listener; one more is closed at once. A freed slot
// serves again, and trusted proxies are not capped.
func TestConnectionsPerAddressCapped(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	cfg.HTTP.MaxConnectionsPerIP = 3
	// A named proxy elsewhere: loopback peers are then capped like any
	// other client (unnamed, a local peer is taken for the proxy).
	cfg.HTTP.TrustedProxies = []string{"192.0.2.1"}
	cfg.TLSListen = "127.0.0.1:0"
	ca := outboundtest.NewCA(t)
	cfg.TLSCert, cfg.TLSKey = ca.ServerCertificateFiles(t, "127.0.0.1")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM)
	hs := testharness.Start(t, cfg)
	addrs := hs.Server.Addrs()
	plain, secure := addrs[0], addrs[1]

	// Two connections to the plain listener and one to the TLS one fill
	// the address's three slots (each answered, so the server has surely
	// accepted it); a fourth on either is closed unanswered.
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", plain)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		versionsOn(t, c)
		held = append(held, c)
	}
	tc, err := tls.Dial("tcp", secure, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	versionsOn(t, tc)
	held = append(held, tc)

	for _, a := range []string{plain, secure} {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /_matrix/client/versions HTTP/1.1\r\nHost: foyer\r\n\r\n")
		if got := closedWithin(t, c, 5*time.Second); len(got) != 0 {
			t.Fatalf("a connection over the cap on %s was answered: %q", a, firstLine(got))
		}
		c.Close()
	}
	// The held connections still work.
	versionsOn(t, held[0])

	// Closing one frees its slot, for TLS too.
	held[2].Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := testharness.Request(client, "https://"+secure, "GET", "/_matrix/client/versions", "", nil)
		if err == nil && r.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a freed slot does not serve: %v %v", r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	for name, trusted := range map[string][]string{
		"trusted proxies are exempt":                     {"127.0.0.1", "::1"},
		"a local peer is exempt while no proxy is named": nil,
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testharness.Config(t, "sqlite")
			cfg.HTTP.MaxConnectionsPerIP = 1
			cfg.HTTP.TrustedProxies = trusted
			servedThrice(t, testharness.Start(t, cfg))
		})
	}
}

// servedThrice holds three connections open at once and is answered on
// each.
func servedThrice(t *testing.T, hs *testharness.Homeserver) {
	t.Helper()
	for range 3 {
		c, err := net.Dial("tcp", hostPort(hs))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		versionsOn(t, c)
	}
}

// versionsOn asks for /versions on an open connection and wants a 200.
func versionsOn(t *testing.T, c net.Conn) {
	t.Helper()
	fmt.Fprintf(c, "GET /_matrix/client/versions HTTP/1.1\r\nHost: foyer\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("/versions on a held connection: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/versions on a held connection: %d", resp.StatusCode)
	}
	_ = c.SetReadDeadline(time.Time{})
}

// stalledReader sends one GET and then reads nothing, with a receive
// buffer small enough that a large answer fills the socket and blocks the
// server's writes.
func stalledReader(t *testing.T, hs *testharness.Homeserver, path, token string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", hostPort(hs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: foyer\r\nAuthorization: Bearer %s\r\n\r\n", path, token)
	return c
}

// awaitAnswered waits until the server has finished a request on route
// (by its metrics), failing the test after limit.
func awaitAnswered(t *testing.T, hs *testharness.Homeserver, route string, limit time.Duration) {
	t.Helper()
	series := fmt.Sprintf(`route=%q`, route)
	deadline := time.Now().Add(limit)
	for {
		r := hs.Do(t, "GET", "/metrics", "", nil)
		if bytes.Contains(r.Raw, []byte(series)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server is still writing %s to a client that stopped reading, after %s", route, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A client that asks for a /sync and then stops reading is dropped once
// the long-poll's timeout plus http.write_timeout has passed, instead of
// holding the answer (and its memory and connection) forever.
func TestSlowReaderSyncTimesOut(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	cfg.HTTP.WriteTimeout = 2 * time.Second
	cfg.Limits.MaxRequestBytes = 3 << 20
	cfg.AccountLimits.MaxAccountDataBytes = 0 // the cap (16 MiB) would refuse the filler
	hs := testharness.Start(t, cfg)
	alice := hs.RegisterUser(t, "alice")

	// 20 MB of account data makes an initial sync far larger than the
	// socket buffers between the server and the stalled client.
	const entries, size = 8, 5 << 19
	for i := range entries {
		r := hs.Do(t, "PUT", fmt.Sprintf("/_matrix/client/v3/user/%s/account_data/org.example.big%d", testharness.PathEscape(alice.UserID), i),
			alice.Token, map[string]string{"filler": strings.Repeat("x", size)})
		if r.Status != 200 {
			t.Fatalf("account data: %s", r)
		}
	}
	c := stalledReader(t, hs, "/_matrix/client/v3/sync?timeout=0", alice.Token)
	awaitAnswered(t, hs, "GET /_matrix/client/v3/sync", 30*time.Second)
	if got := closedWithin(t, c, 10*time.Second); len(got) >= entries*size {
		t.Fatalf("the whole sync (%d bytes) was delivered to a client that stopped reading", len(got))
	}
}

// A media download to a client that stops reading ends after
// http.download_timeout.
func TestSlowReaderDownloadTimesOut(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	cfg.HTTP.DownloadTimeout = 2 * time.Second
	// Loopback peers counted by the connection cap: the download goes
	// through its connection wrapper (and its sendfile path).
	cfg.HTTP.TrustedProxies = []string{"192.0.2.1"}
	hs := testharness.Start(t, cfg)
	alice := hs.RegisterUser(t, "alice")

	const size = 24 << 20
	up := hs.Do(t, "POST", "/_matrix/media/v3/upload", alice.Token, bytes.Repeat([]byte{7}, size))
	if up.Status != 200 {
		t.Fatalf("upload: %s", up)
	}
	mxc := strings.TrimPrefix(up.Str("content_uri"), "mxc://")
	c := stalledReader(t, hs, "/_matrix/client/v1/media/download/"+mxc, alice.Token)
	awaitAnswered(t, hs, "GET /_matrix/client/v1/media/download/{serverName}/{mediaId}", 30*time.Second)
	if got := closedWithin(t, c, 10*time.Second); len(got) >= size {
		t.Fatalf("the whole download (%d bytes) was delivered to a client that stopped reading", len(got))
	}
}

// The longer limits are the point of the short ones: a long-poll longer
// than http.write_timeout is still answered, and an upload trickling in
// for longer than http.read_timeout still arrives.
func TestLongAnswersOutliveTheShortTimeouts(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	cfg.HTTP.ReadTimeout = time.Second
	cfg.HTTP.WriteTimeout = time.Second
	hs := testharness.Start(t, cfg)
	alice := hs.RegisterUser(t, "alice")

	t.Run("long-poll", func(t *testing.T) {
		first := hs.Do(t, "GET", "/_matrix/client/v3/sync", alice.Token, nil)
		if first.Status != 200 {
			t.Fatalf("initial sync: %s", first)
		}
		r := hs.Do(t, "GET", "/_matrix/client/v3/sync?timeout=2500&since="+first.Str("next_batch"), alice.Token, nil)
		if r.Status != 200 {
			t.Fatalf("a 2.5 s long-poll under a 1 s write timeout: %s", r)
		}
	})
	t.Run("upload", func(t *testing.T) {
		const chunks, chunk = 5, 1024
		body, feed := io.Pipe()
		go func() {
			for range chunks {
				time.Sleep(500 * time.Millisecond)
				if _, err := feed.Write(bytes.Repeat([]byte{1}, chunk)); err != nil {
					return
				}
			}
			feed.Close()
		}()
		req, err := http.NewRequest("POST", hs.URL+"/_matrix/media/v3/upload", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = chunks * chunk
		req.Header.Set("Authorization", "Bearer "+alice.Token)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("an upload taking 2.5 s under a 1 s read timeout: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			raw, _ := io.ReadAll(resp.Body)
			t.Fatalf("an upload taking 2.5 s under a 1 s read timeout: %d %s", resp.StatusCode, raw)
		}
	})
}
