package serverdiscovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// How long /.well-known/matrix/server answers are kept, as the spec
// recommends: a success as long as its Cache-Control or Expires says,
// within [wellKnownMinCache, wellKnownMaxCache], 24 hours without either;
// a failure (error status, bad JSON, no m.server, unreachable) an hour.
const (
	wellKnownDefaultCache = 24 * time.Hour
	wellKnownMinCache     = 5 * time.Minute
	wellKnownMaxCache     = 48 * time.Hour
	wellKnownFailureCache = time.Hour
	// wellKnownMaxBytes caps the document; a real one is a few dozen bytes.
	wellKnownMaxBytes = 64 << 10
)

// wellKnownEntry is a cached answer: the delegated name, or !ok for a
// failure.
type wellKnownEntry struct {
	delegated serverName
	ok        bool
	expires   time.Time
}

// wellKnownCall lets concurrent lookups of one name share one request.
type wellKnownCall struct {
	done    chan struct{}
	entry   wellKnownEntry
	aborted bool
}

// wellKnown returns the m.server delegation of host, from the cache or
// by fetching https://host/.well-known/matrix/server.
func (d *Discovery) wellKnown(ctx context.Context, host string) (serverName, bool) {
	key := strings.ToLower(host)
	for {
		d.mu.Lock()
		if e, found := d.cache[key]; found && d.now().Before(e.expires) {
			d.mu.Unlock()
			return e.delegated, e.ok
		}
		call, found := d.inflight[key]
		if !found {
			break // with d.mu held
		}
		d.mu.Unlock()
		select {
		case <-call.done:
			if !call.aborted {
				return call.entry.delegated, call.entry.ok
			}
			// That lookup's own caller gave up; look again.
		case <-ctx.Done():
			return serverName{}, false
		}
	}
	call := &wellKnownCall{done: make(chan struct{})}
	d.inflight[key] = call
	d.mu.Unlock()

	delegated, maxAge, err := d.fetchWellKnown(ctx, host)
	entry := wellKnownEntry{delegated: delegated, ok: err == nil, expires: d.now().Add(maxAge)}
	if err != nil {
		entry.expires = d.now().Add(wellKnownFailureCache)
	}
	call.entry = entry
	// A lookup cut short by our own caller says nothing about the server:
	// it is neither cached nor shared.
	call.aborted = ctx.Err() != nil
	d.mu.Lock()
	delete(d.inflight, key)
	if !call.aborted {
		d.store(key, entry)
	}
	d.mu.Unlock()
	close(call.done)
	return entry.delegated, entry.ok
}

// store adds an entry, first dropping expired ones, then arbitrary ones,
// when the cache is full. d.mu is held.
func (d *Discovery) store(key string, e wellKnownEntry) {
	if len(d.cache) >= d.maxEntries {
		now := d.now()
		for k, old := range d.cache {
			if !now.Before(old.expires) {
				delete(d.cache, k)
			}
		}
		for k := range d.cache {
			if len(d.cache) < d.maxEntries {
				break
			}
			delete(d.cache, k)
		}
	}
	d.cache[key] = e
}

// fetchWellKnown requests the document and parses its m.server; maxAge is
// how long to keep a successful answer.
func (d *Discovery) fetchWellKnown(ctx context.Context, host string) (serverName, time.Duration, error) {
	authority := host
	if d.wellKnownPort != 0 {
		authority = net.JoinHostPort(host, strconv.Itoa(d.wellKnownPort))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+authority+"/.well-known/matrix/server", nil)
	if err != nil {
		return serverName{}, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.http.Do(req)
	if err != nil {
		return serverName{}, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return serverName{}, 0, fmt.Errorf("well-known of %s: status %d", host, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, wellKnownMaxBytes+1))
	if err != nil {
		return serverName{}, 0, err
	}
	if len(body) > wellKnownMaxBytes {
		return serverName{}, 0, fmt.Errorf("well-known of %s: larger than %d bytes", host, wellKnownMaxBytes)
	}
	var doc struct {
		Server *string `json:"m.server"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return serverName{}, 0, fmt.Errorf("well-known of %s: %w", host, err)
	}
	if doc.Server == nil {
		return serverName{}, 0, errors.New("well-known of " + host + ": no m.server")
	}
	delegated, err := parseServerName(*doc.Server)
	if err != nil {
		return serverName{}, 0, fmt.Errorf("well-known of %s: m.server: %w", host, err)
	}
	return delegated, cacheLifetime(resp.Header, d.now()), nil
}

// cacheLifetime reads Cache-Control max-age (no-store and no-cache as
// zero), else Expires, bounded to [wellKnownMinCache, wellKnownMaxCache];
// wellKnownDefaultCache when neither says.
func cacheLifetime(h http.Header, now time.Time) time.Duration {
	lifetime, found := time.Duration(0), false
	for _, directive := range strings.Split(strings.Join(h.Values("Cache-Control"), ","), ",") {
		directive = strings.ToLower(strings.TrimSpace(directive))
		switch {
		case directive == "no-store" || directive == "no-cache":
			return wellKnownMinCache
		case strings.HasPrefix(directive, "max-age="):
			if secs, err := strconv.ParseInt(strings.Trim(directive[len("max-age="):], `"`), 10, 64); err == nil && secs >= 0 {
				lifetime, found = time.Duration(min(secs, int64(wellKnownMaxCache/time.Second)))*time.Second, true
			}
		}
	}
	if !found {
		if expires := h.Get("Expires"); expires != "" {
			if t, err := http.ParseTime(expires); err == nil {
				lifetime, found = t.Sub(now), true
			} else {
				// An invalid Expires means already expired (RFC 9111 5.3).
				lifetime, found = 0, true
			}
		}
	}
	if !found {
		return wellKnownDefaultCache
	}
	return min(max(lifetime, wellKnownMinCache), wellKnownMaxCache)
}
