package e2ee

import (
	"context"
	"encoding/json"
)

// RemoteDevice is one device of another server's user, as its server
// described it.
type RemoteDevice struct {
	DeviceID    string
	DisplayName string
	Keys        json.RawMessage
}

// RemoteDeviceList is the cached device list of another server's user.
type RemoteDeviceList struct {
	UserID string
	// StreamID is the remote server's position of this list: the next
	// m.device_list_update must name it in prev_id.
	StreamID int64
	// Stale lists saw a gap and are fetched again before being served.
	Stale   bool
	Devices []RemoteDevice
	// MasterKey and SelfSigningKey are nil when the user has none.
	MasterKey, SelfSigningKey json.RawMessage
}

// RemoteDeviceUpdate is one m.device_list_update EDU.
type RemoteDeviceUpdate struct {
	UserID, DeviceID, DisplayName string
	StreamID                      int64
	PrevIDs                       []int64
	Deleted                       bool
	Keys                          json.RawMessage
}

// UpdateOutcome says what ApplyRemoteDeviceUpdate did.
type UpdateOutcome int

const (
	// UpdateApplied: the update followed the cached list and was applied.
	UpdateApplied UpdateOutcome = iota
	// UpdateUntracked: no list of the user is cached.
	UpdateUntracked
	// UpdateOld: the cached list is already at or past the update.
	UpdateOld
	// UpdateGap: the update does not follow the cached list (or the list
	// was already stale); the list is now marked stale.
	UpdateGap
)

// PublishedDevices is what this server last told other servers of a
// local user's devices: its stream_id, and a digest per device and of
// the cross-signing keys, so the next change is sent as a difference.
type PublishedDevices struct {
	UserID   string
	StreamID int64
	Devices  map[string]string
	Signing  string
}

// RemoteDeviceStore keeps other servers' users' device lists and what
// this server published of its own users' (storage.RemoteDeviceStore).
type RemoteDeviceStore interface {
	// RemoteDeviceLists returns the cached lists of those users that have one.
	RemoteDeviceLists(ctx context.Context, userIDs []string) (map[string]RemoteDeviceList, error)
	// ReplaceRemoteDeviceList stores a user's whole list as fetched from
	// its server (not stale) and, when pos > 0, records a device-list
	// change of the user at pos.
	ReplaceRemoteDeviceList(ctx context.Context, list RemoteDeviceList, pos int64) error
	// ApplyRemoteDeviceUpdate applies u to the cached list when it follows
	// it (it names prev_ids, each the cached stream_id) and
	// then records a device-list change at pos; a gap, or a new device
	// beyond maxDevices, marks the list stale.
	ApplyRemoteDeviceUpdate(ctx context.Context, u RemoteDeviceUpdate, maxDevices int, pos int64) (UpdateOutcome, error)
	// PutRemoteSigningKeys replaces the cached master and self-signing
	// keys (a nil one is kept) of a user whose list is cached, and
	// records a device-list change at pos. It reports whether a list was
	// cached.
	PutRemoteSigningKeys(ctx context.Context, userID string, master, selfSigning json.RawMessage, pos int64) (bool, error)
	MarkRemoteDeviceListStale(ctx context.Context, userID string) error
	DeleteRemoteDeviceList(ctx context.Context, userID string) error
	// RecordDeviceListChange records that userID's devices changed at pos
	// (a user whose list is not cached: local clients re-query it).
	RecordDeviceListChange(ctx context.Context, userID string, pos int64) error

	// PublishedDevices returns what was last published of a local user
	// (a zero StreamID and no devices when nothing was).
	PublishedDevices(ctx context.Context, userID string) (PublishedDevices, error)
	SetPublishedDevices(ctx context.Context, p PublishedDevices) error
}
