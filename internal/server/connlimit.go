package server

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"foyer/internal/clientaddr"
)

// connectionCap caps the connections open at once from one client address
// (an IPv6 client by its /64), across all the server's listeners. A
// connection beyond the cap is closed as soon as it is accepted, before
// any TLS handshake or request, so a flood of idle sockets from one
// address cannot use up the server's file descriptors. Trusted proxies
// are exempt: behind one, every client arrives from its address. So is a
// loopback peer while no proxy is named: that is most likely a reverse
// proxy on the same host, and capping it would cap every client at once.
type connectionCap struct {
	max     int
	proxies *clientaddr.Resolver
	log     *slog.Logger

	mu   sync.Mutex
	open map[string]int
	// dropped counts refusals since lastReport: a flood is reported once
	// a minute, not once a connection.
	dropped    int
	lastReport time.Time
}

// newConnectionCap returns nil when max is 0 (no cap).
func newConnectionCap(max int, proxies *clientaddr.Resolver, log *slog.Logger) *connectionCap {
	if max <= 0 {
		return nil
	}
	return &connectionCap{max: max, proxies: proxies, log: log, open: map[string]int{}}
}

// wrap applies the cap to ln's connections.
func (c *connectionCap) wrap(ln net.Listener) net.Listener {
	if c == nil {
		return ln
	}
	return &cappedListener{Listener: ln, cap: c}
}

type cappedListener struct {
	net.Listener
	cap *connectionCap
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr, ok := clientaddr.PeerAddr(conn.RemoteAddr().String())
		if !ok || l.cap.exempt(addr) {
			return conn, nil
		}
		key := clientaddr.LimitKey(addr)
		if !l.cap.take(key) {
			conn.Close()
			l.cap.reportDrop(key)
			continue
		}
		return &countedConn{Conn: conn, release: func() { l.cap.release(key) }}, nil
	}
}

func (c *connectionCap) exempt(addr netip.Addr) bool {
	if c.proxies.Configured() {
		return c.proxies.Trusted(addr)
	}
	return addr.IsLoopback()
}

func (c *connectionCap) take(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[key] >= c.max {
		return false
	}
	c.open[key]++
	return true
}

func (c *connectionCap) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[key]--; c.open[key] <= 0 {
		delete(c.open, key)
	}
}

func (c *connectionCap) reportDrop(key string) {
	c.mu.Lock()
	c.dropped++
	now := time.Now()
	if now.Sub(c.lastReport) < time.Minute {
		c.mu.Unlock()
		return
	}
	dropped := c.dropped
	c.dropped, c.lastReport = 0, now
	c.mu.Unlock()
	c.log.Warn("closed connections over http.max_connections_per_ip", "client", key, "closed", dropped, "max", c.max)
}

// countedConn gives its slot back once, on the first Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// ReadFrom hands large answers (media downloads) to the TCP connection's
// own ReadFrom, which uses sendfile, as net/http would without the cap.
func (c *countedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
