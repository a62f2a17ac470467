// Package clientapi is the Matrix client-server API (and Foyer's own
// client extensions under /_foyer/client): its route table (routes.go and
// each area's *Routes) and one file of handlers per area of the spec.
// What every surface shares (errors, JSON, the middleware, the access
// column) is internal/httpapi's.
package clientapi

import (
	"context"
	"log/slog"

	"foyer/internal/accounts"
	"foyer/internal/appservice"
	"foyer/internal/captcha"
	"foyer/internal/clientdata"
	"foyer/internal/clientsync"
	"foyer/internal/config"
	"foyer/internal/e2ee"
	"foyer/internal/federationclient"
	"foyer/internal/guest"
	"foyer/internal/httpapi"
	"foyer/internal/metrics"
	"foyer/internal/presence"
	"foyer/internal/proofofwork"
	"foyer/internal/push"
	"foyer/internal/ratelimit"
	"foyer/internal/remoteprofile"
	"foyer/internal/rooms"
	"foyer/internal/slidingsync"
	"foyer/internal/typing"
)

// RoomVersions is what /capabilities advertises.
type RoomVersions struct {
	Default   string
	Available map[string]string // version -> "stable" | "unstable"
}

// Deps are the services the client API calls.
type Deps struct {
	Config      config.Config
	Log         *slog.Logger
	Accounts    *accounts.Service
	OpenID      *accounts.OpenIDTokens
	Rooms       *rooms.Service
	Sync        *clientsync.Service
	SlidingSync *slidingsync.Service
	Filters     clientsync.FilterStore
	Presence    *presence.Service
	Typing      *typing.Service
	ClientData  *clientdata.Service // receipts, read markers, account data, tags
	Push        *push.Service       // push rules and pushers
	// Notifications lists users' notifications (GET /notifications);
	// nil lists none.
	Notifications NotificationLister
	Guests        *guest.Service // guest links, throttles, expiry
	E2EE          *e2ee.Service  // keys, cross-signing, to-device, key backup
	Metrics       *metrics.Metrics
	RoomVersions  RoomVersions
	// AppServices are the registered application services; nil: none.
	// AppServiceClient asks them about users and aliases, third-party
	// networks, and pings them.
	AppServices      *appservice.Registry
	AppServiceClient *appservice.Client
	// AppServiceDirectory keeps the room directories of their networks.
	AppServiceDirectory AppServiceDirectory
	// RemoteProfiles looks up other servers' users' profiles; nil: they
	// are not found.
	RemoteProfiles *remoteprofile.Cache
	// Captcha checks captcha responses; nil: no provider is configured.
	Captcha *captcha.Verifier
	// Federation asks other servers for their room directories.
	Federation *federationclient.Client
	// Stopping is cancelled when the server begins to shut down; long-polls
	// answer at once then.
	Stopping context.Context
}

// API holds the client API's handlers and the state they keep between
// requests.
type API struct {
	Deps
	uia *accounts.UIA

	guestRegLimit *ratelimit.Limiter
	regLimit      *ratelimit.Limiter
	loginLimit    *ratelimit.Limiter

	// filters are uploaded filters, parsed.
	filters parsedFilters
	// protocols caches the third-party protocols bridges describe.
	protocols protocolCache
	// proofOfWork hands out and checks the guest proof-of-work stage's
	// challenges; nil when guest_access.proof_of_work is off.
	proofOfWork *proofofwork.Issuer
}

// Routes builds the client API and returns its route table.
func Routes(d Deps) []httpapi.Route {
	rl := d.Config.RateLimit
	a := &API{
		Deps:          d,
		uia:           accounts.NewUIA(),
		guestRegLimit: ratelimit.New(rl.GuestRegistration.PerSecond, rl.GuestRegistration.Burst),
		regLimit:      ratelimit.New(rl.Registration.PerSecond, rl.Registration.Burst),
		loginLimit:    ratelimit.New(rl.Login.PerSecond, rl.Login.Burst),
	}
	if g := d.Config.GuestAccess; g.ProofOfWork {
		a.proofOfWork = proofofwork.New(g.ProofOfWorkBits, g.ProofOfWorkTTL)
	}
	if a.Stopping == nil {
		a.Stopping = context.Background()
	}
	return a.routeTable()
}
