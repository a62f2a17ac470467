// Package httpapi is Foyer's client-server HTTP surface: the route table,
// the middleware every request passes, and one file of handlers per area
// of the spec. Handlers parse and validate, call a service, and write JSON;
// they hold no SQL.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"

	"foyer/internal/accounts"
	"foyer/internal/clientaddr"
	"foyer/internal/clientdata"
	"foyer/internal/clientsync"
	"foyer/internal/config"
	"foyer/internal/e2ee"
	"foyer/internal/guest"
	"foyer/internal/media"
	"foyer/internal/metrics"
	"foyer/internal/presence"
	"foyer/internal/push"
	"foyer/internal/ratelimit"
	"foyer/internal/rooms"
	"foyer/internal/typing"
)

// RoomVersions is what /capabilities advertises.
type RoomVersions struct {
	Default   string
	Available map[string]string // version -> "stable" | "unstable"
}

// Deps are the services the API calls.
type Deps struct {
	Config       config.Config
	Log          *slog.Logger
	Accounts     *accounts.Service
	Media        *media.Service
	Rooms        *rooms.Service
	OpenID       *accounts.OpenIDTokens
	Sync         *clientsync.Service
	Filters      clientsync.FilterStore
	Presence     *presence.Service
	Typing       *typing.Service
	ClientData   *clientdata.Service // receipts, read markers, account data, tags
	Push         *push.Service       // push rules and pushers
	Guests       *guest.Service      // guest links, throttles, expiry, admin
	E2EE         *e2ee.Service       // keys, cross-signing, to-device, key backup
	Metrics      *metrics.Metrics
	RoomVersions RoomVersions
	// Ready reports whether the server can serve requests (for /health).
	Ready func() error
	// Stopping is cancelled when the server begins to shut down; long-polls
	// answer at once then.
	Stopping context.Context
}

// API is the HTTP handler of the client-server API.
type API struct {
	Deps
	uia    *accounts.UIA
	mux    *http.ServeMux
	routes []route
	// secretPaths are the route paths with a credential in them, which
	// the request log redacts.
	secretPaths [][]string

	// Proxies are the trusted reverse proxies, whose X-Forwarded-For
	// names the client.
	Proxies *clientaddr.Resolver
	// forwardedUnheeded warns once of X-Forwarded-For with no proxy named.
	forwardedUnheeded sync.Once

	guestRegLimit *ratelimit.Limiter
	regLimit      *ratelimit.Limiter
	loginLimit    *ratelimit.Limiter

	// nonces are those handed out for shared-secret registration.
	nonces nonceBook
	// filters are uploaded filters, parsed.
	filters parsedFilters
}

// New builds the API and its route table.
func New(d Deps) *API {
	rl := d.Config.RateLimit
	a := &API{
		Deps:          d,
		uia:           accounts.NewUIA(),
		mux:           http.NewServeMux(),
		guestRegLimit: ratelimit.New(rl.GuestRegistration.PerSecond, rl.GuestRegistration.Burst),
		regLimit:      ratelimit.New(rl.Registration.PerSecond, rl.Registration.Burst),
		loginLimit:    ratelimit.New(rl.Login.PerSecond, rl.Login.Burst),
		Proxies:       clientaddr.NewResolver(d.Config.HTTP.TrustedProxyPrefixes()),
	}
	if a.Ready == nil {
		a.Ready = func() error { return nil }
	}
	if a.Stopping == nil {
		a.Stopping = context.Background()
	}
	a.routes = a.routeTable()
	a.secretPaths = secretPathsOf(a.routes)
	for _, rt := range a.routes {
		h := a.wrap(rt)
		for _, p := range rt.patterns() {
			a.mux.Handle(rt.Method+" "+p, h)
		}
	}
	return a
}

// rateLimit answers 429 when the caller's address has used up lim.
func (a *API) rateLimit(r *http.Request, lim *ratelimit.Limiter) error {
	if ok, retry := lim.Allow(clientLimitKey(r)); !ok {
		return errLimitExceeded(retry)
	}
	return nil
}

// touch records a device's last use (the service writes it at most once
// a minute).
func (a *API) touch(r *http.Request, s *accounts.Session) {
	if err := a.Accounts.RecordDeviceUse(r.Context(), s.UserID, s.DeviceID, clientIP(r), userAgent(r)); err != nil {
		a.Log.Warn("recording device last-seen failed", "err", err)
	}
}
