package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// client talks to the one server address every process of a run listens
// on, so writers and readers carry on across restarts like real clients.
type client struct {
	base      string
	transport *http.Transport
}

func newClient(base string) *client {
	return &client{base: base, transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
}

// reply is an HTTP answer; a transport error (the server was killed
// mid-request, or is down) is returned as an error instead.
type reply struct {
	status int
	body   map[string]any
	raw    []byte
}

// retryable answers are the ones a client retries: overload and server
// errors (a server shutting down may answer 503).
func (r reply) retryable() bool { return r.status == http.StatusTooManyRequests || r.status >= 500 }

func (r reply) String() string {
	raw := r.raw
	if len(raw) > 300 {
		raw = raw[:300]
	}
	return fmt.Sprintf("%d %s", r.status, raw)
}

func (r reply) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// do sends one request and gives up after timeout.
func (c *client) do(ctx context.Context, timeout time.Duration, method, path, token string, body any) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.transport.RoundTrip(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r, nil
}

// must is do for the setup and the final checks, when the server is up
// and anything but 200 is a failure of the run.
func (c *client) must(ctx context.Context, method, path, token string, body any) (reply, error) {
	r, err := c.do(ctx, 30*time.Second, method, path, token, body)
	if err != nil {
		return r, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if r.status != http.StatusOK {
		return r, fmt.Errorf("%s %s: %s", method, path, r)
	}
	return r, nil
}

func roomPath(roomID, rest string) string {
	return "/_matrix/client/v3/rooms/" + url.PathEscape(roomID) + rest
}
