package clientapi

import "foyer/internal/httpapi"

// The third-party network lookups (/thirdparty) are answered by
// application services' bridges (appservicequeries.go); with none
// registered, no protocol is known and every lookup finds nothing.

func (a *API) thirdPartyRoutes() []httpapi.Route {
	const tp = httpapi.ClientV3 + "/thirdparty"
	return []httpapi.Route{
		{Method: "GET", Path: tp + "/protocols", Access: httpapi.UserOnly, Handle: a.thirdPartyProtocols},
		{Method: "GET", Path: tp + "/protocol/{protocol}", Access: httpapi.UserOnly, Handle: a.thirdPartyProtocol},
		{Method: "GET", Path: tp + "/location", Access: httpapi.UserOnly, Handle: a.thirdPartyLookup("location")},
		{Method: "GET", Path: tp + "/location/{protocol}", Access: httpapi.UserOnly, Handle: a.thirdPartyLookup("location")},
		{Method: "GET", Path: tp + "/user", Access: httpapi.UserOnly, Handle: a.thirdPartyLookup("user")},
		{Method: "GET", Path: tp + "/user/{protocol}", Access: httpapi.UserOnly, Handle: a.thirdPartyLookup("user")},
		// Application services' own routes.
		{Method: "POST", Path: httpapi.ClientV1 + "/appservice/{appserviceId}/ping", Access: httpapi.UserOnly, Handle: a.pingAppService},
		{Method: "PUT", Path: httpapi.ClientV3 + "/directory/list/appservice/{networkId}/{roomId}", Access: httpapi.UserOnly, Handle: a.putAppServiceDirectory},
		// Removal by DELETE, as Synapse serves it (and SyTest uses).
		{Method: "DELETE", Path: httpapi.ClientV3 + "/directory/list/appservice/{networkId}/{roomId}", Access: httpapi.UserOnly, Handle: a.deleteAppServiceDirectory},
	}
}
