package federationclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"foyer/internal/rooms/matrixevents"
)

// toServer sends matrix-federation:// requests to one test server, as
// server discovery would for a name that resolves there.
type toServer struct{ base *url.URL }

func (t toServer) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host = t.base.Scheme, t.base.Host
	return http.DefaultTransport.RoundTrip(r)
}

func newClient(t *testing.T, h http.HandlerFunc, opt Options) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	key, err := matrixevents.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	opt.ServerName, opt.SigningKey, opt.HTTP = "a.example", key, &http.Client{Transport: toServer{base}}
	return New(opt)
}

func TestDoSignsAndDecodes(t *testing.T) {
	var c *Client
	c = newClient(t, func(w http.ResponseWriter, r *http.Request) {
		x, err := matrixevents.ParseXMatrix(r.Header.Get("Authorization"))
		body, _ := io.ReadAll(r.Body)
		if err != nil || x.Origin != "a.example" || x.Destination != "b.example" {
			http.Error(w, `{"errcode":"M_UNAUTHORIZED","error":"bad header"}`, 401)
			return
		}
		if err := matrixevents.VerifyXMatrix(x, "b.example", r.Method, r.URL.RequestURI(), body, c.opt.SigningKey.PublicKey()); err != nil {
			http.Error(w, `{"errcode":"M_UNAUTHORIZED","error":"bad signature"}`, 401)
			return
		}
		io.WriteString(w, `{"echo":`+string(body)+`,"q":"`+r.URL.Query().Get("v")+`"}`)
	}, Options{})
	var out struct {
		Echo struct{ N int } `json:"echo"`
		Q    string          `json:"q"`
	}
	err := c.Do(context.Background(), Request{Method: "POST", Destination: "b.example",
		Path: "/_matrix/federation/v1/x/%21room%3Ab.example", Query: url.Values{"v": {"2"}}, Body: map[string]int{"N": 7}}, &out)
	if err != nil || out.Echo.N != 7 || out.Q != "2" {
		t.Fatalf("Do = %v, %+v", err, out)
	}
}

func TestDoErrors(t *testing.T) {
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/incompatible":
			w.WriteHeader(400)
			io.WriteString(w, `{"errcode":"M_INCOMPATIBLE_ROOM_VERSION","error":"no","room_version":"odd"}`)
		case "/forbidden":
			w.WriteHeader(403)
			io.WriteString(w, `{"errcode":"M_FORBIDDEN","error":"no"}`)
		case "/big":
			io.WriteString(w, `"`+strings.Repeat("x", 2000)+`"`)
		default:
			w.WriteHeader(502)
			io.WriteString(w, `<html>bad gateway</html>`)
		}
	}, Options{MaxResponseBytes: 1000, Permits: func(s string) bool { return s != "blocked.example" }})
	ctx := context.Background()
	err := c.Do(ctx, Request{Method: "GET", Destination: "b.example", Path: "/forbidden"}, nil)
	if e, ok := RemoteError(err); !ok || e.Status != 403 || e.Code != "M_FORBIDDEN" || e.Message != "no" {
		t.Fatalf("forbidden: %v", err)
	}
	err = c.Do(ctx, Request{Method: "GET", Destination: "b.example", Path: "/incompatible"}, nil)
	if e, ok := RemoteError(err); !ok || e.Code != "M_INCOMPATIBLE_ROOM_VERSION" || e.RoomVersion != "odd" {
		t.Fatalf("incompatible: %v", err)
	}
	err = c.Do(ctx, Request{Method: "GET", Destination: "b.example", Path: "/gateway"}, nil)
	if e, ok := RemoteError(err); !ok || e.Status != 502 || e.Code != "" {
		t.Fatalf("gateway: %v", err)
	}
	var s string
	if err := c.Do(ctx, Request{Method: "GET", Destination: "b.example", Path: "/big"}, &s); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("big: %v", err)
	}
	for _, dest := range []string{"a.example", "blocked.example", ""} {
		if err := c.Do(ctx, Request{Method: "GET", Destination: dest, Path: "/x"}, nil); !errors.Is(err, ErrNotPermitted) {
			t.Fatalf("%q: %v", dest, err)
		}
	}
	if _, err := c.Stream(ctx, Request{Method: "GET", Destination: "b.example", Path: "/forbidden"}); err == nil {
		t.Fatal("Stream of a 403 succeeded")
	}
}
