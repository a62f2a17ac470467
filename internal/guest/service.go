package guest

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/config"
	"foyer/internal/ratelimit"
)

// RoomFacts is what the guest policy needs to know about a room and one
// user in it. The room service fills it in (this package cannot import
// rooms, which imports it).
type RoomFacts struct {
	Exists bool
	// GuestsCanJoin: m.room.guest_access is can_join (G-19).
	GuestsCanJoin bool
	// IsPublic: the room is published in the server's room directory.
	IsPublic bool
	// JoinRule is m.room.join_rules' join_rule ("invite" when absent).
	JoinRule string
	// Membership and CanInvite are about the user asked about.
	Membership string
	CanInvite  bool
}

// Rooms is the part of the room service guests need. Errors it returns
// are the room service's own and reach the client as such.
type Rooms interface {
	GuestFacts(ctx context.Context, roomID, userID string) (RoomFacts, error)
	// MemberRoomsToLeave lists the rooms where userID is joined, invited
	// or knocking.
	MemberRoomsToLeave(ctx context.Context, userID string) ([]string, error)
	JoinedRooms(ctx context.Context, userID string) ([]string, error)
	Join(ctx context.Context, roomID, userID, reason string) error
	Invite(ctx context.Context, roomID, sender, target, reason string) error
	// InviteAs is an invite the server sends on inviter's behalf: a
	// guest inviter is not refused for being a guest; the auth rules
	// still decide (the rename upgrade).
	InviteAs(ctx context.Context, roomID, inviter, target, reason string) error
	Leave(ctx context.Context, roomID, userID, reason string) error
	ResolveAlias(ctx context.Context, alias string) (string, error)
}

// Accounts is the part of the accounts service guests need.
type Accounts interface {
	RegisterGuest(ctx context.Context, deviceDisplayName string) (accounts.Credentials, error)
	Deactivate(ctx context.Context, userID string) error
	// Register creates a full user or a named guest (the rename upgrade).
	Register(ctx context.Context, req accounts.RegisterRequest) (accounts.Credentials, error)
	GetUser(ctx context.Context, userID string) (accounts.User, error)
	GetProfile(ctx context.Context, userID string) (accounts.Profile, error)
	// NewLogin issues a token for a device of userID (a rename finished
	// on retry hands the new account to the guest that asked for it),
	// with a refresh token when wantRefresh.
	NewLogin(ctx context.Context, userID, deviceID, deviceDisplayName string, wantRefresh bool) (accounts.Credentials, error)
}

// Options are the settings the service follows.
type Options struct {
	// GuestsEnabled is the top-level `guests` switch.
	GuestsEnabled bool
	Access        config.GuestAccess
	// Rates: link redemptions per IP; events, state events, to-device
	// sends and other stored writes per guest.
	LinkRedemption, Events, StateEvents, ToDevice, Writes config.Rate
	// URLPreviews: URL previews fetched for each guest.
	URLPreviews config.Rate
}

// OptionsFrom picks the service's settings out of the configuration.
func OptionsFrom(cfg config.Config) Options {
	return Options{
		GuestsEnabled:  cfg.Guests,
		Access:         cfg.GuestAccess,
		LinkRedemption: cfg.RateLimit.GuestLinkRedemption,
		Events:         cfg.RateLimit.GuestEvents,
		StateEvents:    cfg.RateLimit.GuestStateEvents,
		ToDevice:       cfg.RateLimit.GuestToDevice,
		Writes:         cfg.RateLimit.GuestWrites,
		URLPreviews:    cfg.RateLimit.GuestURLPreviews,
	}
}

// Service is Foyer's guest policy at run time: registration under the
// live-guest cap and auto-join, guest links, join policy and send
// throttles, expiry and the admin operations.
type Service struct {
	store    Store
	accounts Accounts
	rooms    Rooms
	opts     Options
	log      *slog.Logger
	now      func() time.Time

	// regMu makes "count live guests, then register one" atomic within
	// this process when a cap is set.
	regMu sync.Mutex

	redeemLimit *ratelimit.Limiter
	eventLimit  *ratelimit.Limiter
	stateLimit  *ratelimit.Limiter
	// toDeviceLimit and writeLimit: rate_limits.guest_to_device and
	// rate_limits.guest_writes.
	toDeviceLimit *ratelimit.Limiter
	writeLimit    *ratelimit.Limiter
	// previewLimit: rate_limits.guest_url_previews.
	previewLimit *ratelimit.Limiter

	hooksMu   sync.Mutex
	onExpired func(n int)

	// renaming holds the guests whose rename upgrade is under way, so
	// one guest is never moved twice at once; each channel closes when
	// that rename ends.
	renameMu sync.Mutex
	renaming map[string]chan struct{}
	// afterRenamedRoom, when set, hears how many rooms the rename under
	// way has moved, after each one (crash tests stop the process there).
	afterRenamedRoom func(moved int)

	job       *Job
	renameJob *Job
}

// NewService builds the guest service. It does nothing in the
// background until Start.
func NewService(store Store, accts Accounts, rooms Rooms, opts Options, log *slog.Logger) *Service {
	s := &Service{
		store: store, accounts: accts, rooms: rooms, opts: opts, log: log, now: time.Now,
		redeemLimit: ratelimit.New(opts.LinkRedemption.PerSecond, opts.LinkRedemption.Burst),
		eventLimit:  ratelimit.New(opts.Events.PerSecond, opts.Events.Burst),
		stateLimit:  ratelimit.New(opts.StateEvents.PerSecond, opts.StateEvents.Burst),

		toDeviceLimit: ratelimit.New(opts.ToDevice.PerSecond, opts.ToDevice.Burst),
		writeLimit:    ratelimit.New(opts.Writes.PerSecond, opts.Writes.Burst),
		previewLimit:  ratelimit.New(opts.URLPreviews.PerSecond, opts.URLPreviews.Burst),
	}
	s.job = NewJob(opts.Access.ExpireInterval, s.runExpiry)
	s.renameJob = NewJob(opts.Access.ExpireInterval, s.runRenameRecovery)
	return s
}

// OnExpired registers f to hear how many guests each expiry run removed
// (for the expired-guests counter).
func (s *Service) OnExpired(f func(n int)) {
	s.hooksMu.Lock()
	s.onExpired = f
	s.hooksMu.Unlock()
}

func (s *Service) nowMS() int64 { return s.now().UnixMilli() }

// Start runs the background jobs, each once at once and then every
// guest_access.expire_interval: expiry, and the completion of rename
// upgrades a stopped process left unfinished.
func (s *Service) Start() {
	s.job.Start()
	s.renameJob.Start()
}

// Stop ends the background jobs and waits for them. It is safe to call
// without Start, after a failed Start and more than once.
func (s *Service) Stop() {
	s.job.Stop()
	s.renameJob.Stop()
}
