package appservice

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

	"foyer/internal/config"
	"foyer/internal/outbound"
)

// maxAnswerBytes caps what an application service may answer: its
// answers are small JSON objects (third-party lookups the largest).
const maxAnswerBytes = 1 << 20

// Client makes the requests the server sends to application services:
// transactions, user and alias queries, pings, third-party lookups.
//
// It is an outbound client of its own because the private-address rule
// of the shared one guards destinations that users or other servers
// choose; an application service's url is chosen by the operator, in its
// registration file, and bridges usually run beside the server on a
// private or loopback address. Timeouts and the response cap still hold.
type Client struct {
	http *http.Client
}

// NewClient builds the client from the delivery settings and the
// operator's outbound CA file.
func NewClient(d config.AppServiceDelivery, o config.Outbound) (*Client, error) {
	oc, err := outbound.New(outbound.Options{
		AllowPrivateAddresses: true,
		TrustedCAFile:         o.TrustedCAFile,
		RequestTimeout:        d.Timeout,
		ResponseHeaderTimeout: d.Timeout,
		MaxResponseBytes:      maxAnswerBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("the application service client: %w", err)
	}
	return &Client{http: &http.Client{
		Transport: oc.Transport(),
		Timeout:   d.Timeout,
		// An application service answers where it is registered.
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}, nil
}

// StatusError is an answer other than 2xx.
type StatusError struct {
	Status  int
	Errcode string
	Message string
	// Body is the answer's body (at most maxErrorBodyBytes of it).
	Body string
}

// maxErrorBodyBytes caps the body an error keeps.
const maxErrorBodyBytes = 4096

func (e *StatusError) Error() string {
	if e.Errcode != "" {
		return fmt.Sprintf("the application service answered %d %s: %s", e.Status, e.Errcode, e.Message)
	}
	return fmt.Sprintf("the application service answered %d", e.Status)
}

// ErrNoURL: the service takes no requests (its url is null).
var ErrNoURL = errors.New("the application service has no url")

// do sends one request to the service with its hs_token and decodes a
// JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, as *Service, method, path string, query url.Values, body []byte, out any) error {
	if !as.HasURL() {
		return ErrNoURL
	}
	u := strings.TrimRight(*as.URL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+as.HSToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return err
	}
	if len(raw) > maxAnswerBytes {
		return fmt.Errorf("the application service's answer is larger than %d bytes", maxAnswerBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := &StatusError{Status: resp.StatusCode, Body: string(raw[:min(len(raw), maxErrorBodyBytes)])}
		var e struct {
			Errcode string `json:"errcode"`
			Error   string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil {
			se.Errcode, se.Message = e.Errcode, e.Error
		}
		return se
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("the application service's answer is not the JSON expected: %w", err)
		}
	}
	return nil
}

// PutTransaction sends one transaction (its body already encoded).
func (c *Client) PutTransaction(ctx context.Context, as *Service, txnID string, body []byte) error {
	return c.do(ctx, as, http.MethodPut, "/_matrix/app/v1/transactions/"+url.PathEscape(txnID), nil, body, nil)
}

// QueryUser asks the service whether it has userID; true when it says
// yes (it should have created the user then).
func (c *Client) QueryUser(ctx context.Context, as *Service, userID string) (bool, error) {
	err := c.do(ctx, as, http.MethodGet, "/_matrix/app/v1/users/"+url.PathEscape(userID), nil, nil, nil)
	return answered(err)
}

// QueryAlias asks the service whether it has alias; true when it says yes
// (it should have created the room and the alias then).
func (c *Client) QueryAlias(ctx context.Context, as *Service, alias string) (bool, error) {
	err := c.do(ctx, as, http.MethodGet, "/_matrix/app/v1/rooms/"+url.PathEscape(alias), nil, nil, nil)
	return answered(err)
}

func answered(err error) (bool, error) {
	var se *StatusError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &se) && se.Status == http.StatusNotFound:
		return false, nil
	default:
		return false, err
	}
}

// Ping is POST /_matrix/app/v1/ping, with the caller's transaction ID
// when it gave one.
func (c *Client) Ping(ctx context.Context, as *Service, txnID string) error {
	body := map[string]string{}
	if txnID != "" {
		body["transaction_id"] = txnID
	}
	raw, _ := json.Marshal(body)
	return c.do(ctx, as, http.MethodPost, "/_matrix/app/v1/ping", nil, raw, nil)
}

// ThirdParty forwards a third-party lookup: path is what follows
// /thirdparty/ (protocol/{p}, user/{p}, location, ...), query the
// client's fields.
func (c *Client) ThirdParty(ctx context.Context, as *Service, path string, query url.Values) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, as, http.MethodGet, "/_matrix/app/v1/thirdparty/"+path, query, nil, &out)
	return out, err
}
