package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ErrResponseTooLarge is returned (wrapped) when a response body is
// longer than the client's MaxResponseBytes.
var ErrResponseTooLarge = errors.New("outbound: response body too large")

// limitedTransport bounds a whole request by timeout, the response body
// included, and its body by maxBytes.
type limitedTransport struct {
	base     http.RoundTripper
	timeout  time.Duration
	maxBytes int64
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.ContentLength > t.maxBytes {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("%w: %d bytes announced, at most %d accepted", ErrResponseTooLarge, resp.ContentLength, t.maxBytes)
	}
	resp.Body = &limitedBody{body: resp.Body, remaining: t.maxBytes, limit: t.maxBytes, cancel: cancel}
	return resp, nil
}

// limitedBody fails a read that goes beyond limit bytes, and ends the
// request's context when closed.
type limitedBody struct {
	body      io.ReadCloser
	remaining int64
	limit     int64
	cancel    context.CancelFunc
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.remaining <= 0 {
		// One byte more tells a body of exactly limit bytes from a longer one.
		var one [1]byte
		n, err := b.body.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, b.limit)
		}
		return 0, err
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.body.Read(p)
	b.remaining -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error {
	err := b.body.Close()
	b.cancel()
	return err
}
