package server

import (
	"context"
	"errors"
	"fmt"

	"foyer/internal/accounts"
)

// ensureAppServiceSenders creates the sender user of each application
// service that does not have one yet: the service acts as it without
// registering it first.
func ensureAppServiceSenders(ctx context.Context, svc *Services) error {
	for _, as := range svc.AppServices.All() {
		_, err := svc.Accounts.Register(ctx, accounts.RegisterRequest{
			Username: as.SenderLocalpart, InhibitLogin: true, AppService: true,
		})
		if err != nil && !errors.Is(err, accounts.ErrUserInUse) {
			return fmt.Errorf("creating the sender %s of application service %s: %w", as.SenderID, as.ID, err)
		}
	}
	return nil
}
