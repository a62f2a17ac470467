// Package federationclient makes Foyer's signed requests to other
// homeservers: one place that names the destination, signs with X-Matrix,
// bounds the time and the size of the answer, and turns a remote error
// into a Go error that keeps its Matrix code. Typed calls (joins, keys,
// media...) are methods in their own files over Do.
package federationclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"foyer/internal/rooms/matrixevents"
)

// Options configure a Client.
type Options struct {
	// ServerName is ours: the origin of every request.
	ServerName string
	SigningKey *matrixevents.SigningKey
	// HTTP resolves matrix-federation:// URLs (server discovery) and sends
	// through the one outbound client.
	HTTP *http.Client
	// Permits says whether a server may be contacted (federation enabled,
	// allow and block lists); nil permits every server.
	Permits func(serverName string) bool
	// Timeout bounds each request (default 30 s); a caller's deadline,
	// when shorter, wins.
	Timeout time.Duration
	// MaxResponseBytes bounds an answer read into memory (default 16 MiB).
	MaxResponseBytes int64
	// Outbound fetches, unsigned, URLs that another server names (a media
	// answer's Location): the outbound client, which refuses non-public
	// addresses unless allowed. nil refuses every such URL.
	Outbound *http.Client
}

// Client sends signed requests to other homeservers.
type Client struct{ opt Options }

// New returns a client with opt's defaults filled in.
func New(opt Options) *Client {
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.MaxResponseBytes <= 0 {
		opt.MaxResponseBytes = 16 << 20
	}
	return &Client{opt: opt}
}

// ServerName is the origin this client signs as.
func (c *Client) ServerName() string { return c.opt.ServerName }

// ErrNotPermitted is returned, without any request, for our own name and
// for servers federation may not reach.
var ErrNotPermitted = errors.New("federation with this server is not permitted")

// ErrTooLarge is returned when an answer is larger than the client reads.
var ErrTooLarge = errors.New("the remote server's answer is too large")

// Error is a remote server's error answer.
type Error struct {
	Destination string
	Status      int
	// Code and Message are the answer's errcode and error, when it had them.
	Code    string
	Message string
	// RoomVersion is the answer's room_version (with
	// M_INCOMPATIBLE_ROOM_VERSION), for the client to see too.
	RoomVersion string
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s answered %d %s: %s", e.Destination, e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("%s answered %d", e.Destination, e.Status)
}

// RemoteError returns err's remote answer, if it is one.
func RemoteError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Request is one call to another server.
type Request struct {
	Method      string
	Destination string
	// Path is the URL path, its variable parts already escaped.
	Path  string
	Query url.Values
	// Body, when not nil, is sent as JSON.
	Body any
	// Timeout, when not zero, replaces the client's timeout for this
	// request (a large media download may need longer).
	Timeout time.Duration
}

// Do sends r signed and decodes a 2xx answer into out (when out is not
// nil). A non-2xx answer is an *Error.
func (c *Client) Do(ctx context.Context, r Request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := readBounded(resp.Body, c.opt.MaxResponseBytes)
	if err != nil {
		return fmt.Errorf("reading %s's answer: %w", r.Destination, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return remoteError(r.Destination, resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s's answer is not the expected JSON: %w", r.Destination, err)
	}
	return nil
}

// Stream sends r signed and returns the 2xx answer for the caller to read
// (and close), for answers that are not JSON, such as media. The body is
// not bounded here: the caller reads it within its own limit. A non-2xx
// answer is an *Error.
func (c *Client) Stream(ctx context.Context, r Request) (*http.Response, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		data, _ := readBounded(resp.Body, 64<<10)
		return nil, remoteError(r.Destination, resp.StatusCode, data)
	}
	return resp, nil
}

func (c *Client) send(ctx context.Context, r Request) (*http.Response, error) {
	if r.Destination == "" || strings.EqualFold(r.Destination, c.opt.ServerName) ||
		(c.opt.Permits != nil && !c.opt.Permits(r.Destination)) {
		return nil, ErrNotPermitted
	}
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = json.Marshal(r.Body); err != nil {
			return nil, err
		}
	}
	uri := r.Path
	if len(r.Query) > 0 {
		uri += "?" + r.Query.Encode()
	}
	timeout := c.opt.Timeout
	if r.Timeout > 0 {
		timeout = r.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	req, err := http.NewRequestWithContext(ctx, r.Method, "matrix-federation://"+r.Destination+uri, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := matrixevents.SignRequest(req, c.opt.SigningKey, c.opt.ServerName, r.Destination, body); err != nil {
		cancel()
		return nil, err
	}
	resp, err := c.opt.HTTP.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends a request's timeout when its answer is closed, so an
// answer streamed to a caller keeps its deadline until then.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func readBounded(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, ErrTooLarge
	}
	return data, nil
}

func remoteError(destination string, status int, data []byte) error {
	e := &Error{Destination: destination, Status: status}
	var body struct {
		Code        string `json:"errcode"`
		Message     string `json:"error"`
		RoomVersion string `json:"room_version"`
	}
	if json.Unmarshal(data, &body) == nil {
		e.Code, e.Message, e.RoomVersion = body.Code, body.Message, body.RoomVersion
	}
	return e
}

// unknownEndpoint reports an answer of a server that does not have the
// endpoint: 404 or 405 M_UNRECOGNIZED, or without a Matrix error at all
// (older servers answer an HTML 404), or the 400 M_UNRECOGNIZED of older
// Synapse versions.
func unknownEndpoint(err error) bool {
	e, ok := RemoteError(err)
	if !ok {
		return false
	}
	switch e.Status {
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return e.Code == "" || e.Code == "M_UNRECOGNIZED"
	case http.StatusBadRequest:
		return e.Code == "M_UNRECOGNIZED"
	}
	return false
}
