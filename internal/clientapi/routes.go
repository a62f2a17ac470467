package clientapi

import (
	"foyer/internal/config"
	"foyer/internal/httpapi"
)

// routeTable is every route of the client-server API, with who may call
// it. A route that is not GuestOK does not exist for guests (deny by
// default). /versions and /.well-known/matrix/client describe the whole
// server and are httpapi's own (httpapi/discovery.go).
func (a *API) routeTable() []httpapi.Route {
	routes := []httpapi.Route{
		{Method: "GET", Path: httpapi.ClientV3 + "/capabilities", Access: httpapi.GuestOK, Handle: a.capabilities},

		// Registration and login.
		{Method: "POST", Path: httpapi.ClientV3 + "/register", Access: httpapi.Open, Handle: a.register},
		{Method: "GET", Path: httpapi.ClientV3 + "/register/available", Access: httpapi.Open, Handle: a.registerAvailable},
		{Method: "GET", Path: httpapi.ClientV1 + "/register/m.login.registration_token/validity", Access: httpapi.Open, Handle: a.registrationTokenValidity},
		{Method: "GET", Path: httpapi.ClientV3 + "/login", Access: httpapi.Open, Handle: a.loginFlows},
		{Method: "POST", Path: httpapi.ClientV3 + "/login", Access: httpapi.Open, Handle: a.login},
		{Method: "POST", Path: httpapi.ClientV3 + "/refresh", Access: httpapi.Open, Handle: a.refresh},
		{Method: "POST", Path: httpapi.ClientV3 + "/logout", Access: httpapi.GuestOK, ExpiredTokenOK: true, Handle: a.logout},
		{Method: "POST", Path: httpapi.ClientV3 + "/logout/all", Access: httpapi.UserOnly, ExpiredTokenOK: true, Handle: a.logoutAll},

		// Account.
		{Method: "GET", Path: httpapi.ClientV3 + "/account/whoami", Access: httpapi.GuestOK, Handle: a.whoami},
		{Method: "POST", Path: httpapi.ClientV3 + "/account/password", Access: httpapi.UserOnly, Handle: a.changePassword},
		{Method: "POST", Path: httpapi.ClientV3 + "/account/deactivate", Access: httpapi.UserOnly, Handle: a.deactivate},

		// Devices.
		{Method: "GET", Path: httpapi.ClientV3 + "/devices", Access: httpapi.GuestOK, Handle: a.listDevices},
		{Method: "GET", Path: httpapi.ClientV3 + "/devices/{deviceId}", Access: httpapi.GuestOK, Handle: a.getDevice},
		{Method: "PUT", Path: httpapi.ClientV3 + "/devices/{deviceId}", Access: httpapi.GuestOK, Handle: a.renameDevice},
		{Method: "DELETE", Path: httpapi.ClientV3 + "/devices/{deviceId}", Access: httpapi.UserOnly, Handle: a.deleteDevice},
		{Method: "POST", Path: httpapi.ClientV3 + "/delete_devices", Access: httpapi.UserOnly, Handle: a.deleteDevices},
	}
	routes = append(routes, a.roomRoutes()...)
	routes = append(routes, a.syncRoutes()...)
	routes = append(routes, a.slidingSyncRoutes()...)
	routes = append(routes, a.peekRoutes()...)
	routes = append(routes, a.legacySyncRoutes()...)
	routes = append(routes, a.presenceRoutes()...)
	routes = append(routes, a.clientDataRoutes()...)
	routes = append(routes, a.profileRoutes()...)
	routes = append(routes, a.directoryRoutes()...)
	routes = append(routes, a.pushRoutes()...)
	routes = append(routes, a.notificationRoutes()...)
	routes = append(routes, a.guestLinkRoutes()...)
	routes = append(routes, a.e2eeRoutes()...)
	routes = append(routes, a.voipRoutes()...)
	routes = append(routes, a.userDirectoryRoutes()...)
	routes = append(routes, a.searchRoutes()...)
	routes = append(routes, a.relationRoutes()...)
	routes = append(routes, a.upgradeRoutes()...)
	routes = append(routes, a.threepidRoutes()...)
	routes = append(routes, a.thirdPartyRoutes()...)
	return routes
}

// roomRoutes are rooms, events and membership.
func (a *API) roomRoutes() []httpapi.Route {
	const room = httpapi.ClientV3 + "/rooms/{roomId}"
	return []httpapi.Route{
		{Method: "POST", Path: httpapi.ClientV3 + "/createRoom", Access: httpapi.UserOnly, Handle: a.createRoom},
		{Method: "PUT", Path: room + "/send/{eventType}/{txnId}", Access: httpapi.GuestOK, MaxBody: config.MaxEventBytes, Handle: a.sendEvent},
		// The older form without a transaction ID (no idempotency), which
		// Synapse still serves.
		{Method: "POST", Path: room + "/send/{eventType}", Access: httpapi.UserOnly, MaxBody: config.MaxEventBytes, Handle: a.sendEvent},
		{Method: "PUT", Path: room + "/state/{eventType}/{stateKey}", Access: httpapi.GuestOK, MaxBody: config.MaxEventBytes, Handle: a.putState},
		{Method: "GET", Path: room + "/state", Access: httpapi.GuestOK, Handle: a.getState},
		{Method: "GET", Path: room + "/state/{eventType}/{stateKey}", Access: httpapi.GuestOK, Handle: a.getStateEvent},
		{Method: "GET", Path: room + "/event/{eventId}", Access: httpapi.GuestOK, Handle: a.getEvent},
		{Method: "GET", Path: room + "/members", Access: httpapi.GuestOK, Handle: a.getMembers},
		{Method: "GET", Path: room + "/joined_members", Access: httpapi.UserOnly, Handle: a.getJoinedMembers},
		{Method: "GET", Path: room + "/messages", Access: httpapi.GuestOK, Handle: a.getMessages},
		{Method: "GET", Path: room + "/context/{eventId}", Access: httpapi.GuestOK, Handle: a.getContext},
		{Method: "PUT", Path: room + "/redact/{eventId}/{txnId}", Access: httpapi.UserOnly, MaxBody: config.MaxEventBytes, Handle: a.redactEvent},
		// Without a transaction ID, as older clients and Synapse allow: each
		// request redacts anew.
		{Method: "POST", Path: room + "/redact/{eventId}", Access: httpapi.UserOnly, MaxBody: config.MaxEventBytes, Handle: a.redactEvent},

		{Method: "POST", Path: httpapi.ClientV3 + "/join/{roomIdOrAlias}", Access: httpapi.GuestOK, Handle: a.joinRoomIDOrAlias},
		{Method: "POST", Path: room + "/join", Access: httpapi.GuestOK, Handle: a.joinRoom},
		{Method: "POST", Path: room + "/leave", Access: httpapi.GuestOK, Handle: a.leaveRoom},
		{Method: "POST", Path: room + "/forget", Access: httpapi.UserOnly, Handle: a.forgetRoom},
		{Method: "POST", Path: room + "/invite", Access: httpapi.UserOnly, Handle: a.targetedMembership(a.Rooms.Invite)},
		{Method: "POST", Path: room + "/kick", Access: httpapi.UserOnly, Handle: a.targetedMembership(a.Rooms.Kick)},
		{Method: "POST", Path: room + "/ban", Access: httpapi.UserOnly, Handle: a.targetedMembership(a.Rooms.Ban)},
		{Method: "POST", Path: room + "/unban", Access: httpapi.UserOnly, Handle: a.targetedMembership(a.Rooms.Unban)},
		{Method: "POST", Path: httpapi.ClientV3 + "/knock/{roomIdOrAlias}", Access: httpapi.UserOnly, Handle: a.knockRoom},
		{Method: "GET", Path: httpapi.ClientV3 + "/joined_rooms", Access: httpapi.GuestOK, Handle: a.joinedRooms},
	}
}
