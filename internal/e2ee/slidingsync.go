package e2ee

import (
	"context"
	"encoding/json"
	"sort"
)

// The device data of simplified sliding sync's to_device and e2ee
// extensions (internal/slidingsync), the same reads /sync makes.

// ToDevice acknowledges the device's to-device messages up to ackUpTo
// (0: none) and returns those waiting up to to, at most limit (capped at
// MaxToDevicePerSync) and within the byte budget; limitedAt is where they
// stop when more wait.
func (s *Service) ToDevice(ctx context.Context, userID, deviceID string, ackUpTo, to int64, limit int) ([]json.RawMessage, int64, error) {
	if limit <= 0 || limit > MaxToDevicePerSync {
		limit = MaxToDevicePerSync
	}
	return s.pendingToDevice(ctx, userID, deviceID, ackUpTo, to, limit)
}

// UnusedFallbackKeyTypes are the algorithms of the device's fallback keys
// not yet used, sorted.
func (s *Service) UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error) {
	types, err := s.store.UnusedFallbackKeyTypes(ctx, userID, deviceID)
	sort.Strings(types)
	return types, err
}
