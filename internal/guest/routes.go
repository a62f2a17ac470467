// Package guest holds Foyer's guest-access policy in one place. This file
// is the list of endpoints a guest token may call: the spec's own list
// (G-12) and the extensions Foyer adds on purpose (G-14). The route tables
// of the HTTP surfaces (internal/clientapi and its siblings) mark routes
// GuestOK; a test (internal/server) checks that column against these
// lists, and these lists against testdata/spec-guest-routes.txt.
package guest

// Route is a method and a path pattern as the route table writes it.
type Route struct{ Method, Path string }

// SpecRoutes are the endpoints spec v1.19 lets guests call (G-12).
var SpecRoutes = []Route{
	{"GET", "/_matrix/client/v3/rooms/{roomId}/state"},
	{"GET", "/_matrix/client/v3/rooms/{roomId}/context/{eventId}"},
	{"GET", "/_matrix/client/v3/rooms/{roomId}/event/{eventId}"},
	{"GET", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"},
	{"GET", "/_matrix/client/v3/rooms/{roomId}/messages"},
	{"GET", "/_matrix/client/v3/rooms/{roomId}/members"},
	{"GET", "/_matrix/client/v3/rooms/{roomId}/initialSync"},
	{"GET", "/_matrix/client/v3/sync"},
	{"GET", "/_matrix/client/v3/events"},
	{"GET", "/_matrix/client/v1/media/download/{serverName}/{mediaId}"},
	{"GET", "/_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}"},
	{"GET", "/_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}"},
	{"POST", "/_matrix/client/v3/rooms/{roomId}/join"},
	{"POST", "/_matrix/client/v3/rooms/{roomId}/leave"},
	{"PUT", "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"},
	{"PUT", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"},
	{"PUT", "/_matrix/client/v3/sendToDevice/{eventType}/{txnId}"},
	{"PUT", "/_matrix/client/v3/profile/{userId}/displayname"},
	{"DELETE", "/_matrix/client/v3/profile/{userId}/displayname"},
	{"GET", "/_matrix/client/v3/devices"},
	{"GET", "/_matrix/client/v3/devices/{deviceId}"},
	{"PUT", "/_matrix/client/v3/devices/{deviceId}"},
	{"GET", "/_matrix/client/v3/account/whoami"},
	{"POST", "/_matrix/client/v3/keys/upload"},
	{"POST", "/_matrix/client/v3/keys/query"},
	{"POST", "/_matrix/client/v3/keys/claim"},
}

// Extensions are endpoints outside the spec's list that Foyer lets guests
// call, because real clients need them (G-14). Each is a deliberate
// deviation, listed in the README.
var Extensions = []Route{
	// Clients read capabilities at start-up; guests get theirs (G-15).
	{"GET", "/_matrix/client/v3/capabilities"},
	// Signing out a guest only ends its own session (G-42).
	{"POST", "/_matrix/client/v3/logout"},
	// Older SDKs fail to start when filters or push rules are refused.
	{"POST", "/_matrix/client/v3/user/{userId}/filter"},
	{"GET", "/_matrix/client/v3/user/{userId}/filter/{filterId}"},
	{"GET", "/_matrix/client/v3/pushrules/"},
	{"GET", "/_matrix/client/v3/pushrules/global/"},
	{"GET", "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}"},
	{"GET", "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled"},
	{"GET", "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions"},
	// Device-list tracking after an initial sync (G-46).
	{"GET", "/_matrix/client/v3/keys/changes"},
	// Chat UX: typing, receipts and read markers (G-52).
	{"PUT", "/_matrix/client/v3/rooms/{roomId}/typing/{userId}"},
	{"POST", "/_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}"},
	{"POST", "/_matrix/client/v3/rooms/{roomId}/read_markers"},
	// Element Call: an OpenID token for its SFU, and TURN.
	{"POST", "/_matrix/client/v3/user/{userId}/openid/request_token"},
	{"GET", "/_matrix/client/v3/voip/turnServer"},
	// matrix-js-sdk's joinRoom posts here.
	{"POST", "/_matrix/client/v3/join/{roomIdOrAlias}"},
	// Room summaries for links (G-24).
	{"GET", "/_matrix/client/v1/room_summary/{roomIdOrAlias}"},
	// Simplified sliding sync (MSC4186), the sync of Element X: the same
	// rooms and rules as /sync, which the spec's list holds.
	{"POST", "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"},
	// Clients list their joined rooms at start-up.
	{"GET", "/_matrix/client/v3/joined_rooms"},
	// Link previews in the timeline, throttled per guest
	// (rate_limits.guest_url_previews). The deprecated
	// /_matrix/media/v3/preview_url stays for full users only.
	{"GET", "/_matrix/client/v1/media/preview_url"},
}

// Allowed reports whether a guest may call method path.
func Allowed(method, path string) bool {
	for _, list := range [][]Route{SpecRoutes, Extensions} {
		for _, r := range list {
			if r.Method == method && r.Path == path {
				return true
			}
		}
	}
	return false
}
