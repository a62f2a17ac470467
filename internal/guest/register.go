package guest

import (
	"context"
	"fmt"
	"strings"

	"foyer/internal/accounts"
)

// OpenRegistration reports whether anyone may call
// POST /register?kind=guest (guests on and open registration on).
func (s *Service) OpenRegistration() error {
	if !s.opts.GuestsEnabled {
		return ErrGuestsDisabled
	}
	if !s.opts.Access.OpenRegistration {
		return ErrLinksOnly
	}
	return nil
}

// Register creates a guest under the live-guest cap
// (guest_access.max_live) and joins it to the auto-join rooms. Callers
// have checked that guests may register this way.
func (s *Service) Register(ctx context.Context, deviceDisplayName string) (accounts.Credentials, error) {
	creds, err := s.register(ctx, deviceDisplayName)
	if err != nil {
		return creds, err
	}
	s.AutoJoin(ctx, creds.UserID)
	return creds, nil
}

// register is Register without the auto-join.
func (s *Service) register(ctx context.Context, deviceDisplayName string) (accounts.Credentials, error) {
	if max := s.opts.Access.MaxLive; max > 0 {
		s.regMu.Lock()
		defer s.regMu.Unlock()
		n, err := s.store.CountLiveGuests(ctx)
		if err != nil {
			return accounts.Credentials{}, err
		}
		if n >= max {
			return accounts.Credentials{}, &LimitError{
				Reason:     fmt.Sprintf("this server has as many guests as it allows (%d); try again later or register an account", max),
				RetryAfter: CapRetryAfter,
			}
		}
	}
	return s.accounts.RegisterGuest(ctx, deviceDisplayName)
}

// AutoJoin joins a new guest to each of guest_access.auto_join_rooms that
// allows guests. A room that cannot be joined is logged and skipped:
// registration has succeeded already.
func (s *Service) AutoJoin(ctx context.Context, userID string) {
	for _, idOrAlias := range s.opts.Access.AutoJoinRooms {
		roomID := idOrAlias
		if strings.HasPrefix(idOrAlias, "#") {
			id, err := s.rooms.ResolveAlias(ctx, idOrAlias)
			if err != nil {
				s.log.WarnContext(ctx, "guest auto-join: cannot resolve alias", "room", idOrAlias, "user_id", userID, "err", err)
				continue
			}
			roomID = id
		}
		facts, err := s.rooms.GuestFacts(ctx, roomID, userID)
		if err != nil || !facts.Exists || !facts.GuestsCanJoin {
			s.log.WarnContext(ctx, "guest auto-join: room does not exist or does not allow guests", "room", idOrAlias, "user_id", userID, "err", err)
			continue
		}
		if err := s.rooms.Join(ctx, roomID, userID, ""); err != nil {
			s.log.WarnContext(ctx, "guest auto-join failed", "room", idOrAlias, "user_id", userID, "err", err)
		}
	}
}

// discardGuest undoes a registration whose purpose failed: the account
// goes entirely when it did nothing yet, else it is deactivated.
func (s *Service) discardGuest(ctx context.Context, userID string, touchedRooms bool) {
	// The request may have been cancelled; the clean-up must still run.
	ctx = context.WithoutCancel(ctx)
	if !touchedRooms {
		if err := s.store.DeleteFreshGuest(ctx, userID); err == nil {
			return
		} else {
			s.log.WarnContext(ctx, "could not delete an unused guest; deactivating it instead", "user_id", userID, "err", err)
		}
	}
	if err := s.accounts.Deactivate(ctx, userID); err != nil {
		s.log.ErrorContext(ctx, "deactivating an unused guest", "user_id", userID, "err", err)
	}
}
