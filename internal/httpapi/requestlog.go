package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
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
	// id names the request in the logs and the X-Request-Id header.
	id string
}

type requestInfoKey struct{}

func withRequestInfo(r *http.Request, info *requestInfo) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
}

// SetCaller names the request's authenticated caller in its log lines
// when it is not a user with a token: a signed federation request's
// origin server.
func SetCaller(r *http.Request, caller string) {
	if info := requestInfoOf(r); info != nil {
		info.user = caller
	}
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
func (a *API) logRequest(r *http.Request, info *requestInfo, status int, took time.Duration) {
	if !a.Log.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	// request_id and user come from the logger (WithRequestContext).
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", redactPath(r.URL.Path, a.secretPaths)),
	}
	if q := loggedQuery(r.URL.Query()); q != "" {
		attrs = append(attrs, slog.String("query", q))
	}
	attrs = append(attrs,
		slog.Int("status", status),
		slog.Duration("duration", took),
		slog.String("client", info.clientText(r)),
	)
	a.Log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// secretPathsOf are the paths of the routes that carry a credential in a
// segment, split at "/".
func secretPathsOf(routes []Route) [][]string {
	var out [][]string
	for _, rt := range routes {
		for _, p := range rt.patterns() {
			segs := strings.Split(p, "/")
			if slices.ContainsFunc(segs, func(s string) bool { return secretPathSegments[s] }) {
				out = append(out, segs)
			}
		}
	}
	return out
}

// redactPath replaces the secret segments of path when it has the shape
// of one of secretPaths, whatever the method: a browser's preflight
// OPTIONS or a wrong method carries the same credential.
func redactPath(path string, secretPaths [][]string) string {
	segs := strings.Split(path, "/")
	for _, pat := range secretPaths {
		if !pathHasShape(segs, pat) {
			continue
		}
		for i, p := range pat {
			if secretPathSegments[p] {
				segs[i] = "REDACTED"
			}
		}
		return strings.Join(segs, "/")
	}
	return path
}

// pathHasShape reports whether segs match pattern segments, where a
// {wildcard} matches any one segment.
func pathHasShape(segs, pat []string) bool {
	if len(segs) != len(pat) {
		return false
	}
	for i, p := range pat {
		if !(strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}")) && p != segs[i] {
			return false
		}
	}
	return true
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
