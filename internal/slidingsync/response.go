package slidingsync

import (
	"encoding/json"

	"foyer/internal/clientsync"
)

// Response is the body of a sliding sync answer.
type Response struct {
	Pos        string                   `json:"pos"`
	Lists      map[string]ListResponse  `json:"lists,omitempty"`
	Rooms      map[string]*RoomResponse `json:"rooms"`
	Extensions ExtensionsResponse       `json:"extensions"`
}

// ListResponse is a list's size and the rooms in its ranges.
type ListResponse struct {
	Count int      `json:"count"`
	Ops   []ListOp `json:"ops,omitempty"`
}

// ListOp is a SYNC of one range.
type ListOp struct {
	Op      string   `json:"op"`
	Range   []int64  `json:"range"`
	RoomIDs []string `json:"room_ids"`
}

// Hero is a member shown for a room without a name.
type Hero struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// RoomResponse is one room of a response: fields left out did not change
// since the connection last sent the room.
type RoomResponse struct {
	// Name and Avatar are JSON strings, or null once removed.
	Name    json.RawMessage `json:"name,omitempty"`
	Avatar  json.RawMessage `json:"avatar,omitempty"`
	Heroes  []Hero          `json:"heroes,omitempty"`
	Initial bool            `json:"initial,omitempty"`
	// ExpandedTimeline is sent under Synapse's name and the MSC's.
	ExpandedTimeline       bool              `json:"unstable_expanded_timeline,omitempty"`
	ExpandedTimelineStable bool              `json:"expanded_timeline,omitempty"`
	RequiredState          []json.RawMessage `json:"required_state,omitempty"`
	Timeline               []json.RawMessage `json:"timeline,omitempty"`
	PrevBatch              string            `json:"prev_batch,omitempty"`
	Limited                *bool             `json:"limited,omitempty"`
	NumLive                *int              `json:"num_live,omitempty"`
	BumpStamp              *int64            `json:"bump_stamp,omitempty"`
	JoinedCount            *int              `json:"joined_count,omitempty"`
	InvitedCount           *int              `json:"invited_count,omitempty"`
	NotificationCount      int               `json:"notification_count"`
	HighlightCount         int               `json:"highlight_count"`
	// IsDM is true for a DM; false is sent only when a room stopped being
	// one since it was sent.
	IsDM        *bool                      `json:"is_dm,omitempty"`
	InviteState []clientsync.StrippedEvent `json:"invite_state,omitempty"`
	KnockState  []clientsync.StrippedEvent `json:"knock_state,omitempty"`
}

// ExtensionsResponse holds the enabled extensions' data.
type ExtensionsResponse struct {
	ToDevice    *ToDeviceResponse    `json:"to_device,omitempty"`
	E2EE        *E2EEResponse        `json:"e2ee,omitempty"`
	AccountData *AccountDataResponse `json:"account_data,omitempty"`
	Receipts    *RoomEventsResponse  `json:"receipts,omitempty"`
	Typing      *RoomEventsResponse  `json:"typing,omitempty"`
}

// ToDeviceResponse is the to_device extension's answer.
type ToDeviceResponse struct {
	NextBatch string            `json:"next_batch"`
	Events    []json.RawMessage `json:"events"`
}

// E2EEResponse is the e2ee extension's answer.
type E2EEResponse struct {
	DeviceLists                  clientsync.DeviceLists `json:"device_lists"`
	DeviceOneTimeKeysCount       map[string]int         `json:"device_one_time_keys_count"`
	DeviceUnusedFallbackKeyTypes []string               `json:"device_unused_fallback_key_types"`
}

// AccountDataResponse is the account_data extension's answer.
type AccountDataResponse struct {
	Global []json.RawMessage            `json:"global"`
	Rooms  map[string][]json.RawMessage `json:"rooms"`
}

// RoomEventsResponse is one ephemeral event per room (receipts, typing).
type RoomEventsResponse struct {
	Rooms map[string]json.RawMessage `json:"rooms"`
}

// carriesNews reports whether the extensions hold anything a waiting
// client should be woken for.
func (e ExtensionsResponse) carriesNews() bool {
	return (e.ToDevice != nil && len(e.ToDevice.Events) > 0) ||
		(e.E2EE != nil && (len(e.E2EE.DeviceLists.Changed) > 0 || len(e.E2EE.DeviceLists.Left) > 0)) ||
		(e.AccountData != nil && (len(e.AccountData.Global) > 0 || len(e.AccountData.Rooms) > 0)) ||
		(e.Receipts != nil && len(e.Receipts.Rooms) > 0) ||
		(e.Typing != nil && len(e.Typing.Rooms) > 0)
}
