package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// requestInfo is what the request log and the per-address limits need to
// know about a request, filled in as it passes through the middleware.
type requestInfo struct {
	// client is the caller's address: the socket peer, or the client a
	// trusted proxy names (invalid when the peer is not an IP address).
	client netip.Addr
	// user is the authenticated caller, "" on an anonymous request.
	user string
}

type requestInfoKey struct{}

func withRequestInfo(r *http.Request, info *requestInfo) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
}

func requestInfoOf(r *http.Request) *requestInfo {
	info, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	return info
}

// loggedQueryParams are the query parameters the request log keeps: they
// say what the request asked for and carry no credential. Everything else
// (access_token, registration and login tokens, UIA sessions, inline
// filters) is left out.
var loggedQueryParams = []string{"kind", "since", "timeout", "full_state", "set_presence", "from", "to", "dir", "limit", "timeout_ms"}

// secretPathSegments are route wildcards whose value is a credential.
var secretPathSegments = map[string]bool{"{token}": true}

// logRequest writes the request's one info line: never a query parameter
// outside loggedQueryParams, never a header, never a secret path segment.
func (a *API) logRequest(r *http.Request, info *requestInfo, pattern string, status int, took time.Duration) {
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", loggedPath(r.URL.Path, pattern)),
	}
	if q := loggedQuery(r.URL.Query()); q != "" {
		attrs = append(attrs, slog.String("query", q))
	}
	attrs = append(attrs,
		slog.Int("status", status),
		slog.Duration("duration", took),
		slog.String("user", info.user),
		slog.String("client", info.clientText(r)),
	)
	a.Log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// loggedPath is path with the segments that the route's pattern marks
// as secret replaced.
func loggedPath(path, pattern string) string {
	patPath := pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		patPath = p
	}
	var segs []string
	for i, p := range strings.Split(patPath, "/") {
		if !secretPathSegments[p] {
			continue
		}
		if segs == nil {
			segs = strings.Split(path, "/")
		}
		if i < len(segs) {
			segs[i] = "REDACTED"
		}
	}
	if segs == nil {
		return path
	}
	return strings.Join(segs, "/")
}

func loggedQuery(q url.Values) string {
	kept := url.Values{}
	for _, k := range loggedQueryParams {
		if v, ok := q[k]; ok {
			kept[k] = v
		}
	}
	return kept.Encode()
}

func (info *requestInfo) clientText(r *http.Request) string {
	if info.client.IsValid() {
		return info.client.String()
	}
	return r.RemoteAddr
}
