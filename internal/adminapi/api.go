// Package adminapi is the API of server admins: Foyer's own guest
// administration under /_foyer/admin, the spec's whois, and Synapse's
// shared-secret registration and server notices that provisioning and
// operators' tools use.
package adminapi

import (
	"log/slog"

	"foyer/internal/accounts"
	"foyer/internal/config"
	"foyer/internal/guest"
	"foyer/internal/httpapi"
	"foyer/internal/metrics"
	"foyer/internal/servernotices"
)

// Deps are the services the admin API calls.
type Deps struct {
	Config   config.Config
	Log      *slog.Logger
	Accounts *accounts.Service
	Guests   *guest.Service
	Metrics  *metrics.Metrics
	// ServerNotices sends operators' notices to users.
	ServerNotices *servernotices.Service
}

// API holds the admin API's handlers.
type API struct {
	Deps
	// nonces are those handed out for shared-secret registration.
	nonces nonceBook
}

// Routes builds the admin API and returns its route table.
func Routes(d Deps) []httpapi.Route {
	a := &API{Deps: d}
	routes := append(a.adminRoutes(), a.sharedSecretRoutes()...)
	return append(routes, a.serverNoticeRoutes()...)
}
