package accounts

import (
	"context"
	"errors"
)

// SetExclusiveUsers tells the service which user IDs application services
// claim exclusively: registrations (named guests, upgrades and renames
// included) other than the service's own are refused them with
// ErrExclusive, and guest numbers among them are skipped. Call it before
// serving.
func (s *Service) SetExclusiveUsers(exclusive func(userID string) bool) {
	s.exclusive = exclusive
}

func (s *Service) isExclusive(userID string) bool {
	return s.exclusive != nil && s.exclusive(userID)
}

// CreateDeviceWithoutLogin makes a device of userID with no access token:
// an application service acts for it with its own token (MSC4190). It
// reports false when the device existed already (it is left as it was).
func (s *Service) CreateDeviceWithoutLogin(ctx context.Context, userID, deviceID, displayName string) (bool, error) {
	if _, err := s.store.GetDevice(ctx, userID, deviceID); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	now := s.nowMS()
	err := s.store.AddLogin(ctx, Device{UserID: userID, DeviceID: deviceID, DisplayName: displayName, LastSeenTS: now}, LoginTokens{})
	return err == nil, err
}
