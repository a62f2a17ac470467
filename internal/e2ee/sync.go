package e2ee

import (
	"context"
	"sort"

	"foyer/internal/clientsync"
)

// SyncExtension fills sync's to_device, device_lists,
// device_one_time_keys_count and device_unused_fallback_key_types
// (G-45..G-47). Give it to clientsync.NewService.
type SyncExtension struct{ E2EE *Service }

var _ clientsync.Extension = SyncExtension{}

// Fill implements clientsync.Extension.
func (x SyncExtension) Fill(ctx context.Context, req *clientsync.Request, since, to int64, resp *clientsync.Response) error {
	if req.DeviceID == "" {
		// The legacy /events stream: no device, no device data.
		return nil
	}
	s := x.E2EE
	// The device acknowledges the to-device messages of the token it
	// syncs from: those up to its position (or up to where a capped
	// response stopped).
	var ack int64
	if req.Since != nil && since == req.Since.Pos {
		ack = since
		if td := req.Since.ToDevice; td > 0 && td < ack {
			ack = td
		}
	}
	if !s.toDevice.nothingWaiting(req.UserID, req.DeviceID) {
		events, limitedAt, err := s.pendingToDevice(ctx, req.UserID, req.DeviceID, ack, to, MaxToDevicePerSync)
		if err != nil {
			return err
		}
		resp.ToDevice.Events = append(resp.ToDevice.Events, events...)
		if limitedAt > 0 {
			if tok, ok := clientsync.ParseToken(resp.NextBatch); ok {
				tok.ToDevice = limitedAt
				resp.NextBatch = tok.String()
			}
		}
		if len(events) == 0 {
			// Nothing waits up to to, every position up to which is
			// visible.
			s.toDevice.foundEmpty(req.UserID, req.DeviceID, to)
		}
	}

	counts, err := s.OneTimeKeyCounts(ctx, req.UserID, req.DeviceID)
	if err != nil {
		return err
	}
	for alg, n := range counts {
		resp.DeviceOneTimeKeysCount[alg] = n
	}
	fallback, err := s.store.UnusedFallbackKeyTypes(ctx, req.UserID, req.DeviceID)
	if err != nil {
		return err
	}
	sort.Strings(fallback)
	resp.DeviceUnusedFallbackKeyTypes = append(resp.DeviceUnusedFallbackKeyTypes, fallback...)

	if since > 0 && x.deviceListsMayHaveMoved(ctx, req, since) {
		changed, left, err := s.Changes(ctx, req.UserID, since, to)
		if err != nil {
			return err
		}
		resp.DeviceLists.Changed = append(resp.DeviceLists.Changed, changed...)
		resp.DeviceLists.Left = append(resp.DeviceLists.Left, left...)
	}
	return nil
}

// deviceListsMayHaveMoved is false when neither anyone's devices nor
// the membership of the caller's rooms changed after since, so
// device_lists would be empty: the wake of a long-poll by a message
// asks no query for it.
func (x SyncExtension) deviceListsMayHaveMoved(ctx context.Context, req *clientsync.Request, since int64) bool {
	if !req.MembershipsUnchanged() {
		return true
	}
	moved, err := x.E2EE.store.DeviceListsMovedAfter(ctx, since)
	return err != nil || moved
}
