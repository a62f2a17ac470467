package server

import (
	"context"
	"log/slog"

	"foyer/internal/adminapi"
	"foyer/internal/clientapi"
	"foyer/internal/config"
	"foyer/internal/federationapi"
	"foyer/internal/httpapi"
	"foyer/internal/joinpage"
	"foyer/internal/mediaapi"
	"foyer/internal/metrics"
	"foyer/internal/storage"
)

// newAPI mounts every HTTP surface over the services behind the shared
// middleware. stopping is cancelled when the server begins to shut down;
// ready reports whether it can serve (/health).
func newAPI(cfg config.Config, log *slog.Logger, svc *Services, stopping context.Context, ready func() error) *httpapi.API {
	m := metrics.New()
	return httpapi.New(httpapi.Deps{Config: cfg, Log: log, Accounts: svc.Accounts, AppServices: svc.AppServices, Metrics: m, Ready: ready},
		clientapi.Routes(clientapi.Deps{
			Config:              cfg,
			Log:                 log,
			Accounts:            svc.Accounts,
			OpenID:              svc.OpenID,
			Rooms:               svc.Rooms,
			Sync:                svc.Sync,
			SlidingSync:         svc.SlidingSync,
			Filters:             svc.Filters,
			Presence:            svc.Presence,
			Typing:              svc.Typing,
			ClientData:          svc.ClientData,
			Push:                svc.Push,
			Notifications:       svc.PushNotifications,
			Guests:              svc.Guests,
			Captcha:             svc.Captcha,
			E2EE:                svc.E2EE,
			Metrics:             m,
			RoomVersions:        roomVersions(),
			AppServices:         svc.AppServices,
			AppServiceClient:    svc.AppServiceClient,
			AppServiceDirectory: storage.NewAppServiceDirectory(svc.DB),
			Stopping:            stopping,

			RemoteProfiles: remoteProfiles(cfg, svc),
			Federation:     svc.FederationClient,
		}),
		mediaapi.Routes(&mediaapi.API{Config: cfg, Media: svc.Media, Previews: svc.URLPreviews, Guests: svc.Guests}),
		adminapi.Routes(adminapi.Deps{Config: cfg, Log: log, Accounts: svc.Accounts, Guests: svc.Guests, Metrics: m,
			ServerNotices: svc.ServerNotices}),
		joinpage.Routes(joinPageOptions(cfg)),
		federationapi.Routes(federationapi.Deps{Config: cfg, Accounts: svc.Accounts, OpenID: svc.OpenID, Keys: svc.ServerKeys,
			Rooms: svc.Rooms, Typing: svc.Typing, ClientData: svc.ClientData, Presence: svc.Presence, E2EE: svc.E2EE,
			Transactions: svc.FederationTxns, HeardFrom: svc.FederationSender.HeardFrom, Log: log,
			Media: svc.Media}),
	)
}

// joinPageOptions tell the join page what it cannot ask the client API:
// whether visitors may become guests, and the human checks and captcha
// widget that takes.
func joinPageOptions(cfg config.Config) joinpage.Options {
	opts := joinpage.Options{
		ServerName:            cfg.ServerName,
		GuestRegistrationOpen: cfg.Guests && cfg.GuestAccess.OpenRegistration,
	}
	if cfg.GuestAccess.RequireCaptcha {
		opts.GuestChecks = append(opts.GuestChecks, joinpage.GuestCheckCaptcha)
	}
	if cfg.GuestAccess.ProofOfWork {
		opts.GuestChecks = append(opts.GuestChecks, joinpage.GuestCheckProofOfWork)
	}
	if cfg.Captcha.Provider != "" {
		opts.CaptchaProvider = cfg.Captcha.Provider
		opts.CaptchaScript = cfg.Captcha.WidgetScript()
		opts.CaptchaOrigins = cfg.Captcha.WidgetOrigins()
	}
	return opts
}
