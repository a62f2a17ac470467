package httpapi

import (
	"net/http"
	"strings"
)

// Access says who may call a route.
type Access int

const (
	// Open routes need no access token (one given is still read).
	Open Access = iota
	// UserOnly routes need a token of a full user or named guest; a guest
	// token gets 403 M_GUEST_ACCESS_FORBIDDEN (G-13).
	UserOnly
	// GuestOK routes accept any valid token, guests' included. The set
	// of GuestOK routes is checked against internal/guest's list.
	GuestOK
	// AdminOnly routes need a server admin's token.
	AdminOnly
	// OptionalAuth routes work without a token; a token given must be
	// valid (guests' included), and the handler then knows the caller.
	// Like GuestOK routes they must be on internal/guest's list, since
	// guests may call them (e.g. room_summary, G-24).
	OptionalAuth
)

func (a Access) String() string {
	return [...]string{"open", "user", "guest-ok", "admin", "optional-auth"}[a]
}

// HandlerFunc handles a request; a returned error is written as Matrix JSON.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Route is one row of a route table.
type Route struct {
	Method string
	// Path is a net/http pattern path. Client-API paths are written with
	// the v3 prefix; they are also served under r0 for older clients.
	Path   string
	Access Access
	// Own routes act on the caller's own resources: their {userId} must
	// be the caller's (403 M_FORBIDDEN otherwise).
	Own bool
	// MaxBody caps the request body; 0 means limits.max_request_bytes.
	MaxBody int64
	// RawBody routes take opaque bytes (media), not JSON: their body is
	// not checked as text.
	RawBody bool
	// ExpiredTokenOK routes accept an access token whose lifetime is over
	// (logout: a client may end a session it can no longer refresh, as
	// Synapse allows).
	ExpiredTokenOK bool
	Handle         HandlerFunc
}

const (
	ClientV3 = "/_matrix/client/v3"
	clientR0 = "/_matrix/client/r0"
	ClientV1 = "/_matrix/client/v1"
)

// patterns are the paths a route is served under. A trailing
// {stateKey} also matches an empty or slash-containing state key, and the
// path without it (the spec's form for an empty state key).
func (rt Route) patterns() []string {
	paths := []string{rt.Path}
	if rest, ok := strings.CutPrefix(rt.Path, ClientV3); ok {
		paths = append(paths, clientR0+rest)
	}
	var out []string
	for _, p := range paths {
		if base, ok := strings.CutSuffix(p, "/{stateKey}"); ok {
			out = append(out, base+"/{stateKey...}", base)
			continue
		}
		out = append(out, p)
	}
	return out
}

// RouteInfo describes a route for tests and documentation.
type RouteInfo struct {
	Method, Path string
	Access       Access
	Own          bool
}

// Routes lists the route table.
func (a *API) Routes() []RouteInfo {
	out := make([]RouteInfo, 0, len(a.routes))
	for _, rt := range a.routes {
		out = append(out, RouteInfo{Method: rt.Method, Path: rt.Path, Access: rt.Access, Own: rt.Own})
	}
	return out
}
