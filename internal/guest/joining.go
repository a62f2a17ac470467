package guest

import "encoding/json"

// GuestAccessAllowsJoin reads m.room.guest_access content: guests may join
// only when it is present and says can_join (G-18, G-19). An absent event
// (nil content), a redacted one or an unknown value means forbidden.
func GuestAccessAllowsJoin(content json.RawMessage) bool {
	if content == nil {
		return false
	}
	var c struct {
		GuestAccess string `json:"guest_access"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return false
	}
	return c.GuestAccess == "can_join"
}

// MembershipsRemovedOnRevoke are the memberships a guest loses when a room
// stops allowing guests (G-20): joined, invited and knocking guests all
// leave.
var MembershipsRemovedOnRevoke = []string{"join", "invite", "knock"}
