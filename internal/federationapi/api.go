// Package federationapi is the server-server API. Foyer does not federate;
// what it serves here is what third parties of its own users need:
// OpenID userinfo, which Element Call's SFU service asks.
package federationapi

import (
	"foyer/internal/accounts"
	"foyer/internal/httpapi"
)

// API holds the federation handlers.
type API struct {
	OpenID *accounts.OpenIDTokens
}

// Routes returns the federation route table.
func Routes(openID *accounts.OpenIDTokens) []httpapi.Route {
	a := &API{OpenID: openID}
	return []httpapi.Route{
		{Method: "GET", Path: "/_matrix/federation/v1/openid/userinfo", Access: httpapi.Open, Handle: a.openIDUserInfo},
	}
}
