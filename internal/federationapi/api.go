// Package federationapi is the server-server API: its own route table, in
// which routes that other servers call are wrapped by X-Matrix request
// authentication (auth.go) instead of the client API's access tokens; the
// key API (/_matrix/key/v2), server discovery, /version, and OpenID
// userinfo, which Element Call's SFU service asks.
package federationapi

import (
	"log/slog"

	"foyer/internal/accounts"
	"foyer/internal/clientdata"
	"foyer/internal/config"
	"foyer/internal/e2ee"
	"foyer/internal/httpapi"
	"foyer/internal/keylock"
	"foyer/internal/media"
	"foyer/internal/presence"
	"foyer/internal/ratelimit"
	"foyer/internal/rooms"
	"foyer/internal/serverkeys"
	"foyer/internal/typing"
)

// Deps are what the federation handlers need.
type Deps struct {
	Config   config.Config
	Accounts *accounts.Service
	OpenID   *accounts.OpenIDTokens
	// Keys are ours and other servers' signing keys.
	Keys *serverkeys.Service
	// Rooms receives the events of other servers' transactions.
	Rooms *rooms.Service
	// Typing, ClientData, Presence and E2EE take the EDUs of other
	// servers' transactions.
	Typing     *typing.Service
	ClientData *clientdata.Service
	Presence   *presence.Service
	E2EE       *e2ee.Service
	// Transactions keeps the answers to other servers' transactions.
	Transactions TransactionLog
	// HeardFrom, when set, is told of each server that made a signed
	// request (the outbound queue retries it at once).
	HeardFrom func(serverName string)
	// Media serves our media to other servers.
	Media *media.Service
	// Log receives faults in handling other servers' requests; nil
	// discards them.
	Log *slog.Logger
}

// API holds the federation handlers.
type API struct {
	Deps
	// txnLimit is each origin's rate of transactions; txnLocks handle an
	// origin's transactions one at a time.
	txnLimit *ratelimit.Limiter
	txnLocks keylock.Striped
	// dagLimit is each origin's rate of requests for the room DAG.
	dagLimit *ratelimit.Limiter
}

func (a *API) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// Routes returns the federation route table. With federation.enabled
// false the federation and key routes are not served (404 M_UNRECOGNIZED,
// as from a server without a federation listener); OpenID userinfo and
// /.well-known/matrix/server are served either way, since clients' third
// parties and delegation need them regardless.
func Routes(d Deps) []httpapi.Route {
	a := &API{Deps: d, txnLimit: ratelimit.New(txnPerSecond, txnBurst), dagLimit: ratelimit.New(dagPerSecond, dagBurst)}
	routes := []httpapi.Route{
		{Method: "GET", Path: "/.well-known/matrix/server", Access: httpapi.Open, Handle: a.wellKnownServer},
		// Unauthenticated by X-Matrix, as the spec says: the SFU asks it.
		{Method: "GET", Path: "/_matrix/federation/v1/openid/userinfo", Access: httpapi.Open, Handle: a.openIDUserInfo},
	}
	if !d.Config.Federation.Enabled {
		return routes
	}
	return append(routes,
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/version", Access: httpapi.Open, Handle: a.version},
		httpapi.Route{Method: "GET", Path: "/_matrix/key/v2/server", Access: httpapi.Open, Handle: a.serverKeys},
		httpapi.Route{Method: "GET", Path: "/_matrix/key/v2/query/{serverName}", Access: httpapi.Open, Handle: a.queryKeys},
		httpapi.Route{Method: "POST", Path: "/_matrix/key/v2/query", Access: httpapi.Open, Handle: a.queryKeysBatch},
		// The forms with a key ID, gone from the spec but still asked by
		// older servers and test suites: the key ID is a hint, the answer
		// the same.
		httpapi.Route{Method: "GET", Path: "/_matrix/key/v2/server/{keyId}", Access: httpapi.Open, Handle: a.serverKeys},
		httpapi.Route{Method: "GET", Path: "/_matrix/key/v2/query/{serverName}/{keyId}", Access: httpapi.Open, Handle: a.queryKeys},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/query/profile", Access: httpapi.Open, Handle: a.signed(a.queryProfile)},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/query/directory", Access: httpapi.Open, Handle: a.signed(a.queryDirectory)},
		httpapi.Route{Method: "PUT", Path: "/_matrix/federation/v1/send/{txnId}", Access: httpapi.Open, MaxBody: maxTxnBytes, Handle: a.signed(a.sendTransaction)},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/make_join/{roomId}/{userId}", Access: httpapi.Open, Handle: a.signed(a.makeJoin)},
		httpapi.Route{Method: "PUT", Path: "/_matrix/federation/v2/send_join/{roomId}/{eventId}", Access: httpapi.Open, MaxBody: maxEventBytes, Handle: a.signed(a.sendJoin)},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/make_leave/{roomId}/{userId}", Access: httpapi.Open, Handle: a.signed(a.makeLeave)},
		httpapi.Route{Method: "PUT", Path: "/_matrix/federation/v2/send_leave/{roomId}/{eventId}", Access: httpapi.Open, MaxBody: maxEventBytes, Handle: a.signed(a.sendLeave)},
		httpapi.Route{Method: "PUT", Path: "/_matrix/federation/v1/send_join/{roomId}/{eventId}", Access: httpapi.Open, MaxBody: maxEventBytes, Handle: a.signed(a.sendJoinV1)},
		httpapi.Route{Method: "PUT", Path: "/_matrix/federation/v1/send_leave/{roomId}/{eventId}", Access: httpapi.Open, MaxBody: maxEventBytes, Handle: a.signed(a.sendLeaveV1)},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/publicRooms", Access: httpapi.Open, Handle: a.signed(a.getPublicRooms)},
		httpapi.Route{Method: "POST", Path: "/_matrix/federation/v1/publicRooms", Access: httpapi.Open, Handle: a.signed(a.postPublicRooms)},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/hierarchy/{roomId}", Access: httpapi.Open, Handle: a.signed(a.getHierarchy)},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/media/download/{mediaId}", Access: httpapi.Open, Handle: a.signed(a.mediaDownload)},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/media/thumbnail/{mediaId}", Access: httpapi.Open, Handle: a.signed(a.mediaThumbnail)},
		httpapi.Route{Method: "PUT", Path: "/_matrix/federation/v2/invite/{roomId}/{eventId}", Access: httpapi.Open, MaxBody: maxInviteBytes, Handle: a.signed(a.inviteV2)},
		httpapi.Route{Method: "PUT", Path: "/_matrix/federation/v1/invite/{roomId}/{eventId}", Access: httpapi.Open, MaxBody: maxInviteBytes, Handle: a.signed(a.inviteV1)},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/make_knock/{roomId}/{userId}", Access: httpapi.Open, Handle: a.signed(a.makeKnock)},
		httpapi.Route{Method: "PUT", Path: "/_matrix/federation/v1/send_knock/{roomId}/{eventId}", Access: httpapi.Open, MaxBody: maxEventBytes, Handle: a.signed(a.sendKnock)},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/user/devices/{userId}", Access: httpapi.Open, Handle: a.signed(a.userDevices)},
		httpapi.Route{Method: "POST", Path: "/_matrix/federation/v1/user/keys/query", Access: httpapi.Open, Handle: a.signed(a.userKeysQuery)},
		httpapi.Route{Method: "POST", Path: "/_matrix/federation/v1/user/keys/claim", Access: httpapi.Open, Handle: a.signed(a.userKeysClaim)},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/event/{eventId}", Access: httpapi.Open, Handle: a.signed(a.dagRead(a.getEvent))},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/state/{roomId}", Access: httpapi.Open, Handle: a.signed(a.dagRead(a.getState))},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/state_ids/{roomId}", Access: httpapi.Open, Handle: a.signed(a.dagRead(a.getStateIDs))},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/event_auth/{roomId}/{eventId}", Access: httpapi.Open, Handle: a.signed(a.dagRead(a.getEventAuth))},
		httpapi.Route{Method: "POST", Path: "/_matrix/federation/v1/get_missing_events/{roomId}", Access: httpapi.Open, MaxBody: maxEventBytes, Handle: a.signed(a.dagRead(a.getMissingEvents))},
		httpapi.Route{Method: "GET", Path: "/_matrix/federation/v1/backfill/{roomId}", Access: httpapi.Open, Handle: a.signed(a.dagRead(a.getBackfill))},
	)
}
