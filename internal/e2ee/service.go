// Package e2ee is the server's part of end-to-end encryption: device,
// one-time and fallback keys (/keys/upload, /keys/query, /keys/claim),
// cross-signing keys and signatures, device-list tracking (/keys/changes
// and sync's device_lists), to-device messages, and server-side room key
// backups. The server never sees plaintext: it checks that uploaded keys
// are signed by the device that owns them, keeps signatures intact, hands
// each one-time key out once, and delivers to-device messages in order
// until the device acknowledges them.
//
// Device-list changes are a log in the shared stream (storage.Stream):
// every change of a user's devices or keys takes a stream position, so a
// sync asks "who changed in (since, to]" like every other sync section.
//
// Other servers' users (SetFederation): their keys are asked of their
// servers (remotekeys.go), their device lists cached while they share a
// room with a local user and kept current by the EDUs their servers send
// (deviceedus.go, resync.go); local users' device-list changes and
// to-device messages go to other servers as EDUs (publish.go,
// todevice.go).
package e2ee

import (
	"context"
	"log/slog"

	"foyer/internal/accounts"
)

// Positions hands out stream positions (storage.Stream).
type Positions interface {
	Reserve(ctx context.Context) (pos int64, done func(), err error)
}

// Waker wakes long-polls once a stream position is visible
// (clientsync.Service.WakeAt).
type Waker interface {
	WakeAt(pos int64, users, rooms []string)
}

// Rooms is what this package needs of the room service.
type Rooms interface {
	// RoomMates lists the users joined to a room userID has joined,
	// userID included.
	RoomMates(ctx context.Context, userID string) ([]string, error)
	// JoinedRooms lists the rooms userID has joined.
	JoinedRooms(ctx context.Context, userID string) ([]string, error)
}

// Devices lists a user's devices (accounts.Store).
type Devices interface {
	ListDevices(ctx context.Context, userID string) ([]accounts.Device, error)
}

// Service is the end-to-end encryption support.
type Service struct {
	store      Store
	positions  Positions
	rooms      Rooms
	devices    Devices
	waker      Waker
	serverName string
	log        *slog.Logger

	toDeviceLimits ToDeviceLimits

	// unverifiedKeys accepts uploaded keys without checking the device's
	// signature on them (config e2ee.verify_key_signatures: false).
	unverifiedKeys bool

	// fed reaches other servers' users; nil until SetFederation.
	fed *federation

	// onKeysClaimed are told of each local device whose one-time or
	// fallback key was claimed (OnKeysClaimed).
	onKeysClaimed []func(userID, deviceID string)

	// toDevice knows which devices have no to-device message waiting.
	toDevice toDeviceIndex
}

// OnKeysClaimed registers f to be told, after a claim, of each local
// device that gave up a key: application services that manage devices
// (MSC3202) learn their key counts from it. Call it before serving.
func (s *Service) OnKeysClaimed(f func(userID, deviceID string)) {
	s.onKeysClaimed = append(s.onKeysClaimed, f)
}

// Options are the service's settings.
type Options struct {
	ServerName string
	ToDevice   ToDeviceLimits
	// AcceptUnverifiedKeys stops checking that uploaded keys are signed
	// by the device's own key, as Synapse and Dendrite never do.
	AcceptUnverifiedKeys bool
}

// NewService builds the service. waker may be nil (no long-polls to wake).
func NewService(store Store, positions Positions, rooms Rooms, devices Devices, waker Waker, opts Options, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: store, positions: positions, rooms: rooms, devices: devices, waker: waker, serverName: opts.ServerName, log: log,
		toDeviceLimits: opts.ToDevice, unverifiedKeys: opts.AcceptUnverifiedKeys}
}

// DeviceListChanged wakes everyone who shares a room with userID (and
// userID) once the change recorded at pos is visible, and tells the
// servers that share a room with userID. The account store calls it
// after adding, renaming or deleting devices.
func (s *Service) DeviceListChanged(userID string, pos int64) {
	s.wakeMates(context.Background(), userID, pos)
	s.publishDevices(context.Background(), userID)
}

func (s *Service) wakeMates(ctx context.Context, userID string, pos int64) {
	if s.waker == nil {
		return
	}
	mates, err := s.rooms.RoomMates(ctx, userID)
	if err != nil {
		s.log.WarnContext(ctx, "finding room-mates for a device-list change", "user_id", userID, "err", err)
		mates = []string{userID}
	}
	s.waker.WakeAt(pos, mates, nil)
}
