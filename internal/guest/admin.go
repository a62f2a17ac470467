package guest

import "context"

// CountLive counts live guests (kind guest, not deactivated): the admin
// API's count and the live-guests gauge.
func (s *Service) CountLive(ctx context.Context) (int64, error) {
	return s.store.CountLiveGuests(ctx)
}

// ListGuests pages through live guests for the admin API.
func (s *Service) ListGuests(ctx context.Context, offset, limit int) ([]Info, error) {
	return s.store.ListGuests(ctx, offset, limit)
}
