package httpapi

import (
	"net/http"
	"strings"

	"foyer/internal/config"
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

// apiFunc handles a request; a returned error is written as Matrix JSON.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// route is one row of the route table.
type route struct {
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
	Handle  apiFunc
}

const (
	clientV3 = "/_matrix/client/v3"
	clientR0 = "/_matrix/client/r0"
	clientV1 = "/_matrix/client/v1"
)

// patterns are the paths a route is served under. A trailing
// {stateKey} also matches an empty or slash-containing state key, and the
// path without it (the spec's form for an empty state key).
func (rt route) patterns() []string {
	paths := []string{rt.Path}
	if rest, ok := strings.CutPrefix(rt.Path, clientV3); ok {
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

// routeTable is every route Foyer serves, with who may call it. A route
// that is not GuestOK does not exist for guests (deny by default).
func (a *API) routeTable() []route {
	routes := []route{
		// Discovery and operations.
		{Method: "GET", Path: "/_matrix/client/versions", Access: Open, Handle: a.versions},
		{Method: "GET", Path: "/.well-known/matrix/client", Access: Open, Handle: a.wellKnownClient},
		{Method: "GET", Path: clientV3 + "/capabilities", Access: GuestOK, Handle: a.capabilities},
		{Method: "GET", Path: "/health", Access: Open, Handle: a.health},
		{Method: "GET", Path: "/metrics", Access: Open, Handle: a.metricsHandler},

		// Registration and login.
		{Method: "POST", Path: clientV3 + "/register", Access: Open, Handle: a.register},
		{Method: "GET", Path: clientV3 + "/register/available", Access: Open, Handle: a.registerAvailable},
		{Method: "GET", Path: clientV1 + "/register/m.login.registration_token/validity", Access: Open, Handle: a.registrationTokenValidity},
		{Method: "GET", Path: clientV3 + "/login", Access: Open, Handle: a.loginFlows},
		{Method: "POST", Path: clientV3 + "/login", Access: Open, Handle: a.login},
		{Method: "POST", Path: clientV3 + "/logout", Access: GuestOK, Handle: a.logout},
		{Method: "POST", Path: clientV3 + "/logout/all", Access: UserOnly, Handle: a.logoutAll},

		// Account.
		{Method: "GET", Path: clientV3 + "/account/whoami", Access: GuestOK, Handle: a.whoami},
		{Method: "POST", Path: clientV3 + "/account/password", Access: UserOnly, Handle: a.changePassword},
		{Method: "POST", Path: clientV3 + "/account/deactivate", Access: UserOnly, Handle: a.deactivate},

		// Devices.
		{Method: "GET", Path: clientV3 + "/devices", Access: GuestOK, Handle: a.listDevices},
		{Method: "GET", Path: clientV3 + "/devices/{deviceId}", Access: GuestOK, Handle: a.getDevice},
		{Method: "PUT", Path: clientV3 + "/devices/{deviceId}", Access: GuestOK, Handle: a.renameDevice},
		{Method: "DELETE", Path: clientV3 + "/devices/{deviceId}", Access: UserOnly, Handle: a.deleteDevice},
		{Method: "POST", Path: clientV3 + "/delete_devices", Access: UserOnly, Handle: a.deleteDevices},
	}
	routes = append(routes, a.roomRoutes()...)
	routes = append(routes, a.syncRoutes()...)
	routes = append(routes, a.peekRoutes()...)
	routes = append(routes, a.legacySyncRoutes()...)
	routes = append(routes, a.presenceRoutes()...)
	routes = append(routes, a.mediaRoutes()...)
	routes = append(routes, a.clientDataRoutes()...)
	routes = append(routes, a.profileRoutes()...)
	routes = append(routes, a.directoryRoutes()...)
	routes = append(routes, a.pushRoutes()...)
	routes = append(routes, a.guestLinkRoutes()...)
	routes = append(routes, a.joinPageRoutes()...)
	routes = append(routes, a.adminRoutes()...)
	routes = append(routes, a.sharedSecretRoutes()...)
	routes = append(routes, a.e2eeRoutes()...)
	routes = append(routes, a.voipRoutes()...)
	routes = append(routes, a.userDirectoryRoutes()...)
	routes = append(routes, a.relationRoutes()...)
	routes = append(routes, a.upgradeRoutes()...)
	return routes
}

// RouteInfo describes a route for tests and documentation.
type RouteInfo struct {
	Method, Path string
	Access       Access
}

// Routes lists the route table.
func (a *API) Routes() []RouteInfo {
	out := make([]RouteInfo, 0, len(a.routes))
	for _, rt := range a.routes {
		out = append(out, RouteInfo{Method: rt.Method, Path: rt.Path, Access: rt.Access})
	}
	return out
}

// roomRoutes are rooms, events and membership.
func (a *API) roomRoutes() []route {
	const room = clientV3 + "/rooms/{roomId}"
	return []route{
		{Method: "POST", Path: clientV3 + "/createRoom", Access: UserOnly, Handle: a.createRoom},
		{Method: "PUT", Path: room + "/send/{eventType}/{txnId}", Access: GuestOK, MaxBody: config.MaxEventBytes, Handle: a.sendEvent},
		// The older form without a transaction ID (no idempotency), which
		// Synapse still serves.
		{Method: "POST", Path: room + "/send/{eventType}", Access: UserOnly, MaxBody: config.MaxEventBytes, Handle: a.sendEvent},
		{Method: "PUT", Path: room + "/state/{eventType}/{stateKey}", Access: GuestOK, MaxBody: config.MaxEventBytes, Handle: a.putState},
		{Method: "GET", Path: room + "/state", Access: GuestOK, Handle: a.getState},
		{Method: "GET", Path: room + "/state/{eventType}/{stateKey}", Access: GuestOK, Handle: a.getStateEvent},
		{Method: "GET", Path: room + "/event/{eventId}", Access: GuestOK, Handle: a.getEvent},
		{Method: "GET", Path: room + "/members", Access: GuestOK, Handle: a.getMembers},
		{Method: "GET", Path: room + "/joined_members", Access: UserOnly, Handle: a.getJoinedMembers},
		{Method: "GET", Path: room + "/messages", Access: GuestOK, Handle: a.getMessages},
		{Method: "GET", Path: room + "/context/{eventId}", Access: GuestOK, Handle: a.getContext},
		{Method: "PUT", Path: room + "/redact/{eventId}/{txnId}", Access: UserOnly, MaxBody: config.MaxEventBytes, Handle: a.redactEvent},

		{Method: "POST", Path: clientV3 + "/join/{roomIdOrAlias}", Access: GuestOK, Handle: a.joinRoomIDOrAlias},
		{Method: "POST", Path: room + "/join", Access: GuestOK, Handle: a.joinRoom},
		{Method: "POST", Path: room + "/leave", Access: GuestOK, Handle: a.leaveRoom},
		{Method: "POST", Path: room + "/forget", Access: UserOnly, Handle: a.forgetRoom},
		{Method: "POST", Path: room + "/invite", Access: UserOnly, Handle: a.targetedMembership(a.Rooms.Invite)},
		{Method: "POST", Path: room + "/kick", Access: UserOnly, Handle: a.targetedMembership(a.Rooms.Kick)},
		{Method: "POST", Path: room + "/ban", Access: UserOnly, Handle: a.targetedMembership(a.Rooms.Ban)},
		{Method: "POST", Path: room + "/unban", Access: UserOnly, Handle: a.targetedMembership(a.Rooms.Unban)},
		{Method: "POST", Path: clientV3 + "/knock/{roomIdOrAlias}", Access: UserOnly, Handle: a.knockRoom},
		{Method: "GET", Path: clientV3 + "/joined_rooms", Access: GuestOK, Handle: a.joinedRooms},
	}
}
