package slidingsync

import (
	"encoding/json"
	"errors"
	"fmt"
	"foyer/internal/clientsync"
	"time"
)

// Limits on a request, so one body cannot make the server do unbounded
// work or keep unbounded state.
const (
	maxLists         = 100
	maxListKeyLen    = 64
	maxSubscriptions = 500
	maxTimelineLimit = 1000
	maxRequiredState = 200
	maxRangeEnd      = 1 << 20
	maxConnIDLen     = 128
)

// Request is one POST of simplified sliding sync.
type Request struct {
	UserID, DeviceID string
	// Pos is the client's position ("" on a connection's first request).
	Pos     string
	Timeout time.Duration
	Body    Body
	// HeldElsewhere: another process holds this long-poll (a follower
	// of the writer). When nothing is new, Sync returns no response and
	// sets Listen to what that process waits for before asking again.
	HeldElsewhere bool
	Listen        *clientsync.ListenFor
}

// Body is the request body.
type Body struct {
	ConnID            string                `json:"conn_id"`
	Lists             map[string]ListConfig `json:"lists"`
	RoomSubscriptions map[string]RoomParams `json:"room_subscriptions"`
	Extensions        Extensions            `json:"extensions"`
}

// RoomParams are what to send of each room.
type RoomParams struct {
	RequiredState [][]string `json:"required_state"`
	TimelineLimit int        `json:"timeline_limit"`
}

// ListConfig is one sliding window over the user's rooms.
type ListConfig struct {
	RoomParams
	Ranges  [][]int64    `json:"ranges"`
	Filters *ListFilters `json:"filters"`
}

// ListFilters narrow a list; absent fields do not filter.
type ListFilters struct {
	IsDM         *bool     `json:"is_dm"`
	Spaces       []string  `json:"spaces"`
	IsEncrypted  *bool     `json:"is_encrypted"`
	IsInvite     *bool     `json:"is_invite"`
	RoomTypes    []*string `json:"room_types"`
	NotRoomTypes []*string `json:"not_room_types"`
	Tags         []string  `json:"tags"`
	NotTags      []string  `json:"not_tags"`
}

// Extensions are the extension requests; an extension is off unless
// enabled.
type Extensions struct {
	ToDevice    *ToDeviceRequest `json:"to_device"`
	E2EE        *Toggle          `json:"e2ee"`
	AccountData *ScopedRequest   `json:"account_data"`
	Receipts    *ScopedRequest   `json:"receipts"`
	Typing      *ScopedRequest   `json:"typing"`
}

// Toggle is an extension with nothing to configure but enabled.
type Toggle struct {
	Enabled *bool `json:"enabled"`
}

func (t *Toggle) on() bool { return t != nil && t.Enabled != nil && *t.Enabled }

// ToDeviceRequest is the to_device extension (MSC3885).
type ToDeviceRequest struct {
	Toggle
	Limit *int    `json:"limit"`
	Since *string `json:"since"`
}

// ScopedRequest is an extension applied to some lists and room
// subscriptions: absent means all ("*").
type ScopedRequest struct {
	Toggle
	Lists []string `json:"lists"`
	Rooms []string `json:"rooms"`
}

// ErrBadRequest is a body that does not follow MSC4186.
var ErrBadRequest = errors.New("bad sliding sync request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

// ParseBody reads and checks a request body.
func ParseBody(raw []byte) (Body, error) {
	var b Body
	if len(raw) == 0 {
		return b, nil
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return b, badRequest("the body is not valid: %v", err)
	}
	if len(b.ConnID) > maxConnIDLen {
		return b, badRequest("conn_id is longer than %d bytes", maxConnIDLen)
	}
	if len(b.Lists) > maxLists {
		return b, badRequest("at most %d lists", maxLists)
	}
	if len(b.RoomSubscriptions) > maxSubscriptions {
		return b, badRequest("at most %d room subscriptions", maxSubscriptions)
	}
	for key, l := range b.Lists {
		if len(key) > maxListKeyLen {
			return b, badRequest("list key %q is longer than %d bytes", key, maxListKeyLen)
		}
		if err := l.RoomParams.check("lists." + key); err != nil {
			return b, err
		}
		for _, r := range l.Ranges {
			if len(r) != 2 || r[0] < 0 || r[1] < r[0] || r[1] > maxRangeEnd {
				return b, badRequest("lists.%s.ranges: each range is [start, end] with 0 <= start <= end", key)
			}
		}
	}
	for roomID, p := range b.RoomSubscriptions {
		if err := p.check("room_subscriptions." + roomID); err != nil {
			return b, err
		}
	}
	if td := b.Extensions.ToDevice; td != nil {
		if td.Limit != nil && *td.Limit < 0 {
			return b, badRequest("extensions.to_device.limit must not be negative")
		}
		if td.Since != nil {
			if _, ok := parseToDeviceSince(*td.Since); !ok {
				return b, badRequest("extensions.to_device.since is not a token this server gave")
			}
		}
	}
	return b, nil
}

func (p RoomParams) check(where string) error {
	if p.TimelineLimit < 0 || p.TimelineLimit > maxTimelineLimit {
		return badRequest("%s.timeline_limit must be between 0 and %d", where, maxTimelineLimit)
	}
	if len(p.RequiredState) > maxRequiredState {
		return badRequest("%s.required_state has more than %d entries", where, maxRequiredState)
	}
	for _, pair := range p.RequiredState {
		if len(pair) != 2 {
			return badRequest("%s.required_state entries are [type, state_key]", where)
		}
	}
	return nil
}
