package accounts

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
