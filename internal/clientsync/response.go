package clientsync

import (
	"encoding/json"
)

// Response is the body of GET /sync.
type Response struct {
	NextBatch                    string         `json:"next_batch"`
	Rooms                        RoomsSection   `json:"rooms"`
	Presence                     EventList      `json:"presence"`
	AccountData                  EventList      `json:"account_data"`
	ToDevice                     EventList      `json:"to_device"`
	DeviceLists                  DeviceLists    `json:"device_lists"`
	DeviceOneTimeKeysCount       map[string]int `json:"device_one_time_keys_count"`
	DeviceUnusedFallbackKeyTypes []string       `json:"device_unused_fallback_key_types"`
}

// EventList is {"events": [...]}.
type EventList struct {
	Events []json.RawMessage `json:"events"`
}

// DeviceLists are the users whose devices changed or who no longer share
// a room with the caller.
type DeviceLists struct {
	Changed []string `json:"changed"`
	Left    []string `json:"left"`
}

// RoomsSection groups rooms by the caller's membership.
type RoomsSection struct {
	Join   map[string]*JoinedRoom  `json:"join"`
	Invite map[string]*InvitedRoom `json:"invite"`
	Leave  map[string]*LeftRoom    `json:"leave"`
	Knock  map[string]*KnockedRoom `json:"knock"`
	// Peek holds the rooms this device peeks into (MSC2753), laid out
	// like joined rooms; absent when there are none.
	Peek map[string]*JoinedRoom `json:"peek,omitempty"`
}

// Timeline is a room's new events.
type Timeline struct {
	Events    []json.RawMessage `json:"events"`
	Limited   bool              `json:"limited"`
	PrevBatch string            `json:"prev_batch,omitempty"`
}

// StateList is {"events": [...]} of events.
type StateList struct {
	Events []json.RawMessage `json:"events"`
}

// Summary is a joined room's summary.
type Summary struct {
	Heroes             []string `json:"m.heroes,omitempty"`
	JoinedMemberCount  int      `json:"m.joined_member_count"`
	InvitedMemberCount int      `json:"m.invited_member_count"`
}

// UnreadNotifications are a room's notification counts.
type UnreadNotifications struct {
	NotificationCount int `json:"notification_count"`
	HighlightCount    int `json:"highlight_count"`
}

// JoinedRoom is rooms.join[roomId].
type JoinedRoom struct {
	Summary             *Summary            `json:"summary,omitempty"`
	State               StateList           `json:"state,omitzero"`
	StateAfter          *StateList          `json:"state_after,omitempty"`
	UnstableStateAfter  *StateList          `json:"org.matrix.msc4222.state_after,omitempty"`
	Timeline            Timeline            `json:"timeline"`
	Ephemeral           EventList           `json:"ephemeral"`
	AccountData         EventList           `json:"account_data"`
	UnreadNotifications UnreadNotifications `json:"unread_notifications"`
}

// StrippedEvent is a stripped state event of invite_state/knock_state.
type StrippedEvent struct {
	Content  json.RawMessage `json:"content"`
	Sender   string          `json:"sender"`
	StateKey string          `json:"state_key"`
	Type     string          `json:"type"`
	// Full, when set, is the whole event, given instead of the stripped
	// fields: the create event of a room whose ID is its hash (MSC4311).
	Full json.RawMessage `json:"-"`
}

// MarshalJSON writes Full when the event has it, else the stripped form.
func (e StrippedEvent) MarshalJSON() ([]byte, error) {
	if e.Full != nil {
		return e.Full, nil
	}
	type stripped StrippedEvent
	return json.Marshal(stripped(e))
}

// InvitedRoom is rooms.invite[roomId].
type InvitedRoom struct {
	InviteState struct {
		Events []StrippedEvent `json:"events"`
	} `json:"invite_state"`
}

// KnockedRoom is rooms.knock[roomId].
type KnockedRoom struct {
	KnockState struct {
		Events []StrippedEvent `json:"events"`
	} `json:"knock_state"`
}

// LeftRoom is rooms.leave[roomId].
type LeftRoom struct {
	State              StateList  `json:"state,omitzero"`
	StateAfter         *StateList `json:"state_after,omitempty"`
	UnstableStateAfter *StateList `json:"org.matrix.msc4222.state_after,omitempty"`
	Timeline           Timeline   `json:"timeline"`
	AccountData        EventList  `json:"account_data"`
}

func newResponse() *Response {
	return &Response{
		Rooms: RoomsSection{
			Join: map[string]*JoinedRoom{}, Invite: map[string]*InvitedRoom{},
			Leave: map[string]*LeftRoom{}, Knock: map[string]*KnockedRoom{},
		},
		Presence:                     EventList{Events: []json.RawMessage{}},
		AccountData:                  EventList{Events: []json.RawMessage{}},
		ToDevice:                     EventList{Events: []json.RawMessage{}},
		DeviceLists:                  DeviceLists{Changed: []string{}, Left: []string{}},
		DeviceOneTimeKeysCount:       map[string]int{},
		DeviceUnusedFallbackKeyTypes: []string{},
	}
}

// empty reports whether an incremental response carries nothing, so the
// long-poll should keep waiting.
func (r *Response) empty() bool {
	return len(r.Rooms.Join) == 0 && len(r.Rooms.Invite) == 0 && len(r.Rooms.Leave) == 0 && len(r.Rooms.Knock) == 0 && len(r.Rooms.Peek) == 0 &&
		len(r.Presence.Events) == 0 && len(r.AccountData.Events) == 0 && len(r.ToDevice.Events) == 0 &&
		len(r.DeviceLists.Changed) == 0 && len(r.DeviceLists.Left) == 0
}

// moveToStateAfter answers a use_state_after request: each room's state
// (computed as the state at its timeline's end) goes to state_after,
// present even when empty, and state is left out.
func moveToStateAfter(resp *Response, unstable bool) {
	move := func(state *StateList, stable, experimental **StateList) {
		after := &StateList{Events: state.Events}
		if after.Events == nil {
			after.Events = []json.RawMessage{}
		}
		*state = StateList{}
		if unstable {
			*experimental = after
		} else {
			*stable = after
		}
	}
	for _, jr := range resp.Rooms.Join {
		move(&jr.State, &jr.StateAfter, &jr.UnstableStateAfter)
	}
	for _, jr := range resp.Rooms.Peek {
		move(&jr.State, &jr.StateAfter, &jr.UnstableStateAfter)
	}
	for _, lr := range resp.Rooms.Leave {
		move(&lr.State, &lr.StateAfter, &lr.UnstableStateAfter)
	}
}
