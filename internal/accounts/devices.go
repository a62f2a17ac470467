package accounts

import (
	"context"
	"sync"
	"time"
)

// ListDevices lists a user's devices.
func (s *Service) ListDevices(ctx context.Context, userID string) ([]Device, error) {
	return s.store.ListDevices(ctx, userID)
}

// GetDevice returns one of a user's devices, or ErrNotFound.
func (s *Service) GetDevice(ctx context.Context, userID, deviceID string) (Device, error) {
	return s.store.GetDevice(ctx, userID, deviceID)
}

// RenameDevice sets a device's display name; ErrNotFound for a device
// the user does not have.
func (s *Service) RenameDevice(ctx context.Context, userID, deviceID, displayName string) error {
	return s.store.RenameDevice(ctx, userID, deviceID, displayName)
}

// DeleteDevices removes the devices and their tokens.
func (s *Service) DeleteDevices(ctx context.Context, userID string, deviceIDs []string) error {
	return s.store.DeleteDevices(ctx, userID, deviceIDs)
}

// HasPassword reports whether the account has a password (a named guest
// has none).
func (s *Service) HasPassword(ctx context.Context, userID string) (bool, error) {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return false, err
	}
	return u.PasswordHash != "", nil
}

// deviceTouchInterval is how often a device's last use is written: every
// authenticated request would otherwise be a write.
const deviceTouchInterval = time.Minute

// deviceTouches remembers when each device's last use was last written.
type deviceTouches struct {
	last sync.Map // userID|deviceID -> time.Time
}

// RecordDeviceUse records where and with what client a device was last
// seen, at most once a minute per device; the calls in between are
// dropped.
func (s *Service) RecordDeviceUse(ctx context.Context, userID, deviceID, ip, userAgent string) error {
	key := userID + "|" + deviceID
	now := s.now()
	if v, ok := s.touches.last.Load(key); ok && now.Sub(v.(time.Time)) < deviceTouchInterval {
		return nil
	}
	s.touches.last.Store(key, now)
	return s.store.TouchDevice(ctx, userID, deviceID, ip, userAgent, now.UnixMilli())
}
