package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/appservicesender"
	"foyer/internal/clientdata"
	"foyer/internal/presence"
	"foyer/internal/typing"
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

// askAppServicesForAlias asks the service whose namespace holds an
// unknown local alias whether it has it: true when it answered that it
// created it.
func askAppServicesForAlias(svc *Services, serverName string, log *slog.Logger) func(ctx context.Context, alias string) bool {
	return func(ctx context.Context, alias string) bool {
		if !strings.HasSuffix(alias, ":"+serverName) {
			return false
		}
		as := svc.AppServices.AliasQueryTarget(alias)
		if as == nil {
			return false
		}
		ok, err := svc.AppServiceClient.QueryAlias(ctx, as, alias)
		if err != nil {
			log.WarnContext(ctx, "asking an application service about an alias", "appservice", as.ID, "err", err)
		}
		return ok
	}
}

// listenForAppServices tells the application service sender of typing,
// public read receipts and presence, for services that asked for
// ephemeral events.
func listenForAppServices(s *appservicesender.Sender, typingSvc *typing.Service, clientData *clientdata.Service, presenceSvc *presence.Service) {
	typingSvc.OnChange(s.Typing)
	clientData.OnPublicReceipt(func(r clientdata.Receipt) {
		if r.Type == clientdata.ReceiptRead {
			s.Receipt(r.RoomID, r.UserID, r.EventID, r.ThreadID, r.TS)
		}
	})
	presenceSvc.OnChange(func(st presence.Status) {
		s.Presence(st.UserID, st.Presence, st.StatusMsg, st.LastActiveTS, time.Now().UnixMilli())
	})
}
