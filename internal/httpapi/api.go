// Package httpapi is what every HTTP surface of Foyer shares: the route
// type with its access column, Matrix errors and the mapping of services'
// refusals to them, JSON in and out, the request's caller, address and ID,
// the middleware every request passes (authentication, the access rule,
// the guest gate, body caps, the request log) and the deadlines of long
// answers. API serves the route tables of the surfaces (internal/clientapi,
// mediaapi, adminapi, federationapi, joinpage) behind that middleware,
// beside the few routes that describe the whole server (discovery.go).
// Handlers parse and validate, call a service, and write JSON; they hold
// no SQL.
package httpapi

import (
	"log/slog"
	"net/http"
	"sync"

	"foyer/internal/accounts"
	"foyer/internal/appservice"
	"foyer/internal/clientaddr"
	"foyer/internal/config"
	"foyer/internal/metrics"
	"foyer/internal/ratelimit"
)

// Deps are what the middleware and the server's own routes need.
type Deps struct {
	Config config.Config
	Log    *slog.Logger
	// Accounts authenticates access tokens and records devices' last use.
	Accounts *accounts.Service
	// AppServices are the registered application services, whose
	// as_tokens authenticate as they do (appservice.go); nil: none.
	AppServices *appservice.Registry
	Metrics     *metrics.Metrics
	// Ready reports whether the server can serve requests (for /health).
	Ready func() error
}

// API is the HTTP handler of every surface: it routes a request to its
// surface's handler through the middleware.
type API struct {
	Deps
	mux *http.ServeMux
	// routesOnly is mux without its catch-all, to tell 405 from 404.
	routesOnly *http.ServeMux
	routes     []Route
	// secretPaths are the route paths with a credential in them, which
	// the request log redacts.
	secretPaths [][]string
	// versionsJSON is the answer of /versions (discovery.go).
	versionsJSON []byte

	// Proxies are the trusted reverse proxies, whose X-Forwarded-For
	// names the client.
	Proxies *clientaddr.Resolver
	// forwardedUnheeded warns once of X-Forwarded-For with no proxy named.
	forwardedUnheeded sync.Once
}

// New builds the API over the surfaces' route tables. A path served twice
// panics here, at start-up.
func New(d Deps, surfaces ...[]Route) *API {
	a := &API{
		Deps:       d,
		mux:        http.NewServeMux(),
		routesOnly: http.NewServeMux(),
		Proxies:    clientaddr.NewResolver(d.Config.HTTP.TrustedProxyPrefixes()),
	}
	if a.Ready == nil {
		a.Ready = func() error { return nil }
	}
	a.routes = a.serverRoutes()
	for _, s := range surfaces {
		a.routes = append(a.routes, s...)
	}
	a.secretPaths = secretPathsOf(a.routes)
	a.versionsJSON = a.versionsBody()
	for _, rt := range a.routes {
		h := a.wrap(rt)
		for _, p := range rt.patterns() {
			a.mux.Handle(rt.Method+" "+p, h)
			a.routesOnly.Handle(rt.Method+" "+p, h)
		}
	}
	a.mux.HandleFunc(catchAll, a.unmatched)
	return a
}

// RateLimit answers 429 when the caller's address has used up lim.
func RateLimit(r *http.Request, lim *ratelimit.Limiter) error {
	if ok, retry := lim.Allow(ClientLimitKey(r)); !ok {
		return ErrLimitExceeded(retry)
	}
	return nil
}

// touch records a device's last use (the service writes it at most once
// a minute).
func (a *API) touch(r *http.Request, s *accounts.Session) {
	if err := a.Accounts.RecordDeviceUse(r.Context(), s.UserID, s.DeviceID, ClientIP(r), UserAgent(r)); err != nil {
		a.Log.Warn("recording device last-seen failed", "err", err)
	}
}
