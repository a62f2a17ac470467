package guest

// Foyer's extensions to the guest endpoint list (Extensions in
// routes.go) come in named groups, so an operator can switch a group off
// (guest_access.disabled_extensions, G-14: "make it configurable"). A
// test checks that every extension has a group and that the names are
// config.GuestExtensionGroups.
var extensionGroups = map[Route]string{
	{"GET", "/_matrix/client/v3/capabilities"}: "capabilities",
	{"POST", "/_matrix/client/v3/logout"}:      "logout",

	{"POST", "/_matrix/client/v3/user/{userId}/filter"}:                           "filters_push_rules",
	{"GET", "/_matrix/client/v3/user/{userId}/filter/{filterId}"}:                 "filters_push_rules",
	{"GET", "/_matrix/client/v3/pushrules/"}:                                      "filters_push_rules",
	{"GET", "/_matrix/client/v3/pushrules/global/"}:                               "filters_push_rules",
	{"GET", "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}"}:                "filters_push_rules",
	{"GET", "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled"}:        "filters_push_rules",
	{"GET", "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions"}:        "filters_push_rules",
	{"GET", "/_matrix/client/v3/keys/changes"}:                                    "keys_changes",
	{"PUT", "/_matrix/client/v3/rooms/{roomId}/typing/{userId}"}:                  "typing_receipts",
	{"POST", "/_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}"}: "typing_receipts",
	{"POST", "/_matrix/client/v3/rooms/{roomId}/read_markers"}:                    "typing_receipts",
	{"POST", "/_matrix/client/v3/user/{userId}/openid/request_token"}:             "element_call",
	{"GET", "/_matrix/client/v3/voip/turnServer"}:                                 "element_call",
	{"POST", "/_matrix/client/v3/join/{roomIdOrAlias}"}:                           "join_by_alias",
	{"GET", "/_matrix/client/v1/room_summary/{roomIdOrAlias}"}:                    "room_summary",
	{"GET", "/_matrix/client/v3/joined_rooms"}:                                    "joined_rooms",
	{"GET", "/_matrix/client/v1/media/preview_url"}:                               "url_previews",
	{"POST", "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"}:       "sliding_sync",
}

// ExtensionGroup names the extension group of a route, or "" when the
// route is not one of Foyer's extensions (spec routes cannot be
// switched off).
func ExtensionGroup(method, path string) string {
	return extensionGroups[Route{method, path}]
}
