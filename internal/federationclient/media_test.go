package federationclient

import (
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"foyer/internal/outbound"
)

func multipartAnswer(w http.ResponseWriter, content textproto.MIMEHeader, body string) {
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	meta, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	io.WriteString(meta, "{}")
	part, _ := mw.CreatePart(content)
	io.WriteString(part, body)
	mw.Close()
}

// A Location part names a URL of the remote server's choosing: it is
// fetched through the outbound client only, so with private addresses
// refused a Location on loopback is never connected to.
func TestMediaLocationOnLoopbackRefused(t *testing.T) {
	var reached atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached.Add(1)
		io.WriteString(w, "internal secret")
	}))
	t.Cleanup(target.Close)
	strict, err := outbound.New(outbound.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		multipartAnswer(w, textproto.MIMEHeader{"Location": {target.URL + "/media"}}, "")
	}, Options{Outbound: strict.HTTPClient()})
	_, err = c.DownloadMedia(context.Background(), "b.example", "abc", 1<<20, time.Minute)
	var refused *outbound.RefusedAddressError
	if !errors.As(err, &refused) {
		t.Fatalf("a Location on loopback: want a RefusedAddressError, got %v", err)
	}
	if reached.Load() != 0 {
		t.Fatal("the loopback Location was connected to")
	}

	// Allowed, the same Location is followed.
	lenient, err := outbound.New(outbound.Options{AllowPrivateAddresses: true})
	if err != nil {
		t.Fatal(err)
	}
	c.opt.Outbound = lenient.HTTPClient()
	m, err := c.DownloadMedia(context.Background(), "b.example", "abc", 1<<20, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Body.Close()
	if b, err := io.ReadAll(m.Body); err != nil || string(b) != "internal secret" {
		t.Fatalf("followed Location: %q, %v", b, err)
	}
}

func TestMediaAnswerBounds(t *testing.T) {
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch strings.TrimPrefix(r.URL.Path, "/_matrix/federation/v1/media/download/") {
		case "big":
			multipartAnswer(w, textproto.MIMEHeader{"Content-Type": {"text/plain"}}, strings.Repeat("x", 101))
		case "exact":
			multipartAnswer(w, textproto.MIMEHeader{"Content-Type": {"text/plain"}}, strings.Repeat("x", 100))
		case "hugeheader":
			multipartAnswer(w, textproto.MIMEHeader{"Content-Type": {"text/plain"}, "X-Filler": {strings.Repeat("y", 100<<10)}}, "x")
		case "json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{}`)
		case "nometa":
			multipartAnswer(w, textproto.MIMEHeader{"Content-Type": {"text/plain"}}, "x")
		}
	}, Options{})
	ctx := context.Background()
	read := func(id string) ([]byte, error) {
		m, err := c.DownloadMedia(ctx, "b.example", id, 100, time.Minute)
		if err != nil {
			return nil, err
		}
		defer m.Body.Close()
		return io.ReadAll(m.Body)
	}
	if b, err := read("exact"); err != nil || len(b) != 100 {
		t.Errorf("content at the limit: %d bytes, %v", len(b), err)
	}
	for _, id := range []string{"big", "hugeheader"} {
		if _, err := read(id); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: want ErrTooLarge, got %v", id, err)
		}
	}
	if _, err := read("json"); !errors.Is(err, ErrBadMediaAnswer) {
		t.Errorf("a JSON answer: want ErrBadMediaAnswer, got %v", err)
	}
}

// Only an answer that says the endpoint is unknown falls back to the
// deprecated one (with allow_remote=false); a real "not found" does not.
func TestMediaLegacyFallback(t *testing.T) {
	var legacy atomic.Int32
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_matrix/media/v3/download/b.example/") {
			legacy.Add(1)
			if r.URL.Query().Get("allow_remote") != "false" {
				w.WriteHeader(400)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "legacy")
			return
		}
		switch strings.TrimPrefix(r.URL.Path, "/_matrix/federation/v1/media/download/") {
		case "unrecognized":
			w.WriteHeader(404)
			io.WriteString(w, `{"errcode":"M_UNRECOGNIZED","error":"no"}`)
		case "html":
			w.WriteHeader(404)
			io.WriteString(w, `<html>not found</html>`)
		case "old-synapse":
			w.WriteHeader(400)
			io.WriteString(w, `{"errcode":"M_UNRECOGNIZED","error":"no"}`)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"errcode":"M_NOT_FOUND","error":"no"}`)
		}
	}, Options{})
	for _, id := range []string{"unrecognized", "html", "old-synapse"} {
		m, err := c.DownloadMedia(context.Background(), "b.example", id, 100, time.Minute)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		b, _ := io.ReadAll(m.Body)
		m.Body.Close()
		if string(b) != "legacy" {
			t.Errorf("%s: %q", id, b)
		}
	}
	before := legacy.Load()
	_, err := c.DownloadMedia(context.Background(), "b.example", "missing", 100, time.Minute)
	if e, ok := RemoteError(err); !ok || e.Code != "M_NOT_FOUND" || legacy.Load() != before {
		t.Errorf("not found: %v, legacy asked %d times", err, legacy.Load()-before)
	}
}
