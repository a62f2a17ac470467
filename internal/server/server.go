// Package server assembles a Foyer homeserver from its configuration and
// runs its listeners: it is what `foyer serve` and the test harness start.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/appservice"
	"foyer/internal/appservicesender"
	"foyer/internal/captcha"
	"foyer/internal/clientaddr"
	"foyer/internal/clientapi"
	"foyer/internal/clientdata"
	"foyer/internal/clientsync"
	"foyer/internal/cluster"
	"foyer/internal/config"
	"foyer/internal/e2ee"
	"foyer/internal/federationclient"
	"foyer/internal/federationedus"
	"foyer/internal/federationsender"
	"foyer/internal/guest"
	"foyer/internal/httpapi"
	"foyer/internal/media"
	"foyer/internal/presence"
	"foyer/internal/push"
	"foyer/internal/pushsender"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
	"foyer/internal/serverkeys"
	"foyer/internal/servernotices"
	"foyer/internal/slidingsync"
	"foyer/internal/storage"
	"foyer/internal/typing"
	"foyer/internal/urlpreview"
)

// Server is a running homeserver. Start opens the listeners; Stop closes
// them gracefully and then the database. Stop is safe after a failed Start.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	DB       *storage.DB
	API      *httpapi.API
	Services *Services

	mu        sync.Mutex
	servers   []*http.Server
	listeners []net.Listener
	done      chan error
	// stopCtx is cancelled when Stop begins; long-polls watch it (through
	// the API's Stopping) and answer early, other requests run to the end.
	stopCtx    context.Context
	stopCancel context.CancelFunc
	// connCap is shared by the listeners: the cap is per address, not
	// per listener.
	connCap *connectionCap
	// releaseServing gives up the SQLite serving lock (nil on
	// PostgreSQL).
	releaseServing func() error
	// member beats the heartbeat and holds the writer lease, or follows
	// the process that holds it (PostgreSQL only).
	member *cluster.Member
	// clusterKey admits requests other processes forward.
	clusterKey string
	// clusterListener takes forwarded requests (nil on SQLite).
	clusterListener net.Listener
	// serving is what the client listeners serve: the API when this
	// process writes, else a forwarder to the process that does.
	serving atomic.Pointer[http.Handler]
	// proxies resolve a client's address behind trusted proxies, for the
	// connection cap and forwarding.
	proxies *clientaddr.Resolver
	// wakeFeed and longPolls hold a follower's /sync long-polls, woken
	// through the database; wakePublisher is the writer's end (nil on
	// SQLite).
	wakeFeed      *cluster.WakeFeed
	longPolls     *cluster.LongPolls
	wakePublisher *cluster.WakePublisher
	// jobsStarted records that the background jobs run here (Stop stops
	// them).
	jobsStarted bool
}

// Services are the parts built from the configuration, shared by the
// server and the operator subcommands.
type Services struct {
	DB         *storage.DB
	Accounts   *accounts.Service
	SigningKey *matrixevents.SigningKey
	Media      *media.Service
	Stream     *storage.Stream
	Rooms      *rooms.Service
	Typing     *typing.Service
	ClientData *clientdata.Service
	Sync       *clientsync.Service
	// SlidingSync serves simplified sliding sync (MSC4186) over Sync's
	// rules.
	SlidingSync *slidingsync.Service
	Filters     *storage.FilterStore
	Presence    *presence.Service
	Push        *push.Service
	Guests      *guest.Service
	E2EE        *e2ee.Service
	OpenID      *accounts.OpenIDTokens
	// ServerKeys are ours and other servers' signing keys. Remote keys
	// are fetched through the client SetOutbound gives it.
	ServerKeys *serverkeys.Service
	// FederationTxns are the answers given to other servers' transactions.
	FederationTxns *storage.FederationTxnStore
	// FederationSender queues PDUs and EDUs for other servers and sends
	// them in the background (started and stopped with the server).
	FederationSender *federationsender.Sender
	// FederationClient makes signed requests to other servers (joins,
	// keys, media...); the sender uses the same outbound client.
	FederationClient *federationclient.Client
	// FederationEDUs sends local typing, receipts and presence to other
	// servers through FederationSender.
	FederationEDUs *federationedus.Publisher
	// URLPreviews answers preview_url through the outbound client; nil
	// when media.url_preview_enabled is off.
	URLPreviews *urlpreview.Service
	// Captcha checks captcha responses through the outbound client; nil
	// when no provider is configured.
	Captcha *captcha.Verifier
	// ServerNotices sends operators' notices to users.
	ServerNotices *servernotices.Service
	// PushNotifications are users' notifications (GET /notifications)
	// and pushers' queues; PushSender fills them from the event stream
	// and delivers to push gateways (started and stopped with the
	// server).
	PushNotifications *storage.PushNotificationStore
	PushSender        *pushsender.Sender
	// AppServices are the registered application services;
	// AppServiceClient sends them requests and AppServiceSender their
	// transactions (started and stopped with the server).
	AppServices      *appservice.Registry
	AppServiceClient *appservice.Client
	AppServiceSender *appservicesender.Sender
}

// OpenServices opens the database and builds the services over it. Each
// service is built once with everything it needs, so the order below is
// the order of dependency.
func OpenServices(ctx context.Context, cfg config.Config, log *slog.Logger) (*Services, error) {
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return buildServices(ctx, cfg, log, db)
}

func openDatabase(ctx context.Context, cfg config.Config) (*storage.DB, error) {
	return storage.Open(ctx, cfg.DatabaseURL, cfg.DataDir, accountLimits(cfg.AccountLimits))
}

// buildServices builds the services over db; on failure it closes db.
func buildServices(ctx context.Context, cfg config.Config, log *slog.Logger, db *storage.DB) (*Services, error) {
	key, err := loadSigningKey(ctx, db, cfg.DataDir, log)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("loading the server signing key: %w", err)
	}
	fedClient, outboundClient, err := federationClient(cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	hasher := accounts.NewPasswordHasher(cfg.Passwords.MemoryKiB, cfg.Passwords.Iterations, cfg.Passwords.MaxConcurrent)
	blobs, err := openMediaStore(ctx, cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	stream, err := storage.OpenStream(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	accountStore := storage.NewAccountStore(db, stream)
	roomsSvc := rooms.NewService(storage.NewRoomStore(db), accountStore, key, cfg.ServerName, stream,
		rooms.Options{GuestMaxRooms: cfg.GuestAccess.MaxRooms,
			ServerNoticesUser: servernotices.SystemUserID(cfg.ServerNotices, cfg.ServerName),
			// PostgreSQL takes transactions side by side: a group commit
			// a room; SQLite's one writer: one shared by every room.
			CommitPerRoom: db.Dialect == storage.Postgres}, log)
	typingSvc := typing.New(roomsSvc, nil)
	roomsSvc.OnEvent(typingSvc.HandleEvent) // leaving a room ends typing there
	clientData := clientdata.NewService(storage.NewClientDataStore(db), roomsSvc, stream)
	presenceSvc := presence.New(storage.NewPresenceStore(db), stream, cfg.ServerName, log)
	pushSvc := push.NewService(storage.NewPushStore(db), stream)
	// e2ee wakes syncs and sync serves e2ee's data: both take the same
	// wakeups, made first (clientsync.Wakeups).
	wakeups := clientsync.NewWakeups(stream)
	e2eeSvc := e2ee.NewService(storage.NewE2EEStore(db), stream, roomsSvc, accountStore, wakeups, e2ee.Options{
		ServerName: cfg.ServerName,
		ToDevice: e2ee.ToDeviceLimits{
			SyncBytes:             cfg.SyncLimits.ToDeviceBytes,
			PendingBytesPerDevice: cfg.AccountLimits.MaxPendingToDeviceBytes,
		},
		AcceptUnverifiedKeys: !cfg.E2EE.VerifyKeySignatures,
	}, log)
	// e2ee lists devices through the account store, so it hears of the
	// store's device-list changes by registering, not by construction.
	accountStore.OnDeviceListChange(e2eeSvc.DeviceListChanged)
	syncSvc := clientsync.NewService(roomsSvc, clientData, typingSvc, pushSvc, presenceSvc, storage.NewPeekStore(db),
		stream, wakeups, []clientsync.Extension{e2ee.SyncExtension{E2EE: e2eeSvc}}, log)
	syncSvc.SetInitialPresenceLimit(cfg.SyncLimits.InitialPresence)
	// With federation off nothing is sent (or kept queued).
	federationPermits := func(name string) bool { return cfg.Federation.Enabled && cfg.Federation.Permits(name) }
	fedSender := federationsender.New(storage.NewFederationQueue(db), federationsender.Options{
		ServerName: cfg.ServerName,
		SigningKey: key,
		HTTP:       fedClient,
		Permits:    federationPermits,
		Log:        log,
	})
	fedRequests := federationclient.New(federationclient.Options{
		ServerName: cfg.ServerName,
		SigningKey: key,
		HTTP:       fedClient,
		Permits:    federationPermits,
		Outbound:   outboundClient.HTTPClient(),
	})
	if cfg.Federation.Enabled {
		roomsSvc.SetRemoteSpaces(remoteSpaces{fedRequests})
		// Other servers' users' keys, device lists and to-device messages.
		e2eeSvc.SetFederation(fedRequests, fedSender, storage.NewRemoteDeviceStore(db))
		roomsSvc.OnEvent(func(se rooms.StoredEvent) { e2eeSvc.MembershipChanged(se.Event) })
	}
	roomsSvc.OnFederatedEvent(func(se rooms.StoredEvent, servers []string) {
		queueRoomEvent(fedSender, log, se, servers)
	})
	fedEDUs := federationedus.New(fedSender, roomsSvc, typingSvc, presenceSvc, federationedus.Options{ServerName: cfg.ServerName, Log: log})
	typingSvc.OnChange(fedEDUs.TypingChanged)
	clientData.OnPublicReceipt(fedEDUs.ReceiptStored)
	presenceSvc.OnChange(fedEDUs.PresenceChanged)
	roomsSvc.OnEvent(fedEDUs.RoomEvent)
	accountsSvc := accounts.NewService(accountStore, cfg.ServerName, hasher, cfg.Passwords.MinLength)
	registrations, err := cfg.LoadAppServices()
	if err != nil {
		db.Close()
		return nil, err
	}
	appServices := appservice.NewRegistry(registrations, cfg.ServerName)
	accountsSvc.SetExclusiveUsers(appServices.UserIsExclusive)
	accountsSvc.EnableRefreshTokens(cfg.Auth.RefreshableAccessTokenLifetime)
	mediaStore := storage.NewMediaStore(db)
	svc := &Services{
		DB:         db,
		Accounts:   accountsSvc,
		SigningKey: key,
		Media: media.NewService(mediaStore, blobs, media.Options{
			ServerName:            cfg.ServerName,
			MaxUploadBytes:        cfg.Media.MaxUploadBytes,
			LegacyUnauthenticated: cfg.Media.LegacyUnauthenticated,
			FreezeLegacyAfter:     cfg.Media.FreezeLegacyAfterTime(),
			Remote:                fedRequests,
			RemoteCache:           mediaStore,
			RemoteFetchTimeout:    cfg.Media.RemoteFetchTimeout,
			MaxConcurrentFetches:  cfg.Media.MaxConcurrentRemoteFetches,
			Log:                   log,
		}),
		Stream:     stream,
		Rooms:      roomsSvc,
		Typing:     typingSvc,
		ClientData: clientData,
		Sync:       syncSvc,
		SlidingSync: slidingsync.New(slidingsync.Deps{Sync: syncSvc, Rooms: roomsSvc, Store: storage.NewSlidingSyncStore(db),
			ClientData: clientData, Typing: typingSvc, Devices: e2eeSvc, Push: pushSvc, Log: log}),
		Filters:  storage.NewFilterStore(db),
		Presence: presenceSvc,
		Push:     pushSvc,
		Guests:   guest.NewService(storage.NewGuestStore(db), accountsSvc, roomsSvc, guest.OptionsFrom(cfg), log),
		E2EE:     e2eeSvc,
		OpenID:   accounts.NewOpenIDTokens(storage.NewOpenIDStore(db)),
		ServerKeys: serverkeys.New(storage.NewServerKeyStore(db), serverkeys.Options{
			ServerName: cfg.ServerName,
			SigningKey: key,
			Permits:    cfg.Federation.Permits,
			Log:        log,
			HTTP:       fedClient,
			Resolver:   federationDestinations{},
		}),
		FederationTxns:   storage.NewFederationTxnStore(db),
		FederationSender: fedSender,
		FederationClient: fedRequests,
		FederationEDUs:   fedEDUs,
		AppServices:      appServices,
	}
	if cfg.Captcha.Provider != "" {
		svc.Captcha = captcha.New(cfg.Captcha, outboundClient)
	}
	if cfg.Media.URLPreviewEnabled {
		svc.URLPreviews = urlpreview.New(outboundClient, svc.Media, storage.NewURLPreviewStore(db), urlpreview.Options{
			MaxPageBytes:  cfg.Media.URLPreviewMaxPageBytes,
			MaxImageBytes: cfg.Media.URLPreviewMaxImageBytes,
			Timeout:       cfg.Media.URLPreviewTimeout,
			CacheFor:      cfg.Media.URLPreviewCacheFor,
			Log:           log,
		})
	}
	svc.PushNotifications = storage.NewPushNotificationStore(db)
	svc.PushSender = newPushSender(cfg, log, svc.PushNotifications, roomsSvc, pushSvc, stream, clientData, syncSvc, outboundClient)
	if svc.AppServiceClient, err = appservice.NewClient(cfg.AppServiceDelivery, cfg.Outbound); err != nil {
		db.Close()
		return nil, err
	}
	svc.AppServiceSender = appservicesender.New(appservicesender.Options{
		Services:  appServices.All(),
		Feed:      storage.NewAppServiceFeed(db),
		Stream:    stream,
		Store:     storage.NewAppServiceStreams(db),
		Transport: svc.AppServiceClient,
		Format: func(ctx context.Context, events []rooms.StoredEvent) []matrixevents.ClientEvent {
			return roomsSvc.ClientEvents(ctx, events, true)
		},
		MaxEvents:   cfg.AppServiceDelivery.MaxEvents,
		MaxBackoff:  cfg.AppServiceDelivery.MaxBackoff,
		Log:         log,
		TypingUsers: typingSvc.Current,
		KeyCounts: func(ctx context.Context, userID, deviceID string) (map[string]int, []string, error) {
			counts, err := e2eeSvc.OneTimeKeyCounts(ctx, userID, deviceID)
			if err != nil {
				return nil, nil, err
			}
			unused, err := e2eeSvc.UnusedFallbackKeyTypes(ctx, userID, deviceID)
			return counts, unused, err
		},
	})
	e2eeSvc.OnKeysClaimed(svc.AppServiceSender.KeysClaimed)
	listenForAppServices(svc.AppServiceSender, typingSvc, clientData, presenceSvc)
	roomsSvc.SetAliasQuery(askAppServicesForAlias(svc, cfg.ServerName, log))
	svc.ServerNotices = servernotices.New(cfg.ServerNotices, cfg.ServerName, accountsSvc, roomsSvc, clientData)
	useRemoteMemberships(svc)
	if cfg.Federation.Enabled {
		// Our users join other servers' rooms through them; received
		// events' missing prev_events and backfill are fetched from other
		// servers, their signatures checked with the servers' keys.
		roomsSvc.SetFederation(fedRequests, svc.ServerKeys.EventKey)
	}
	return svc, nil
}

// New validates cfg and builds the server without listening yet.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	log = slog.New(httpapi.WithRequestContext(log.Handler()))
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var releaseServing func() error
	if cfg.DatabaseURL == "" {
		release, err := storage.LockSQLiteServing(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		releaseServing = release
	}
	fail := func(err error) (*Server, error) {
		if releaseServing != nil {
			_ = releaseServing()
		}
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, releaseServing: releaseServing,
		proxies: clientaddr.NewResolver(cfg.HTTP.TrustedProxyPrefixes())}
	s.stopCtx, s.stopCancel = context.WithCancel(context.Background())
	s.connCap = newConnectionCap(cfg.HTTP.MaxConnectionsPerIP, s.proxies, log)
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	s.DB = db
	// On SQLite the serving lock already makes this process the only
	// one; a lease renewed through SQLite's one writer connection could
	// only be lost to a slow disk.
	if cfg.DatabaseURL != "" {
		if err := s.enterCluster(ctx); err != nil {
			db.Close()
			return fail(err)
		}
		if !s.member.Writing() {
			s.follow()
			return s, nil
		}
	}
	if err := s.becomeWriter(ctx); err != nil {
		if s.member != nil {
			s.member.Stop(ctx)
		}
		return fail(err)
	}
	return s, nil
}

// enterCluster records this process among those serving the database:
// the writer if the writer lease is free, else a follower of its holder.
func (s *Server) enterCluster(ctx context.Context) error {
	instance, err := cluster.InstanceID(s.cfg.DataDir)
	if err != nil {
		return err
	}
	store := storage.NewClusterStore(s.DB)
	if s.clusterKey, err = cluster.Key(ctx, store); err != nil {
		return err
	}
	s.member, err = cluster.Enter(ctx, cluster.Options{Store: store, InstanceID: instance, Addresses: s.Addrs,
		ClusterAddress: s.clusterAddress, Log: s.log})
	return err
}

// becomeWriter builds the services over the database and serves the API
// from them. On failure it closes the database.
func (s *Server) becomeWriter(ctx context.Context) error {
	svc, err := buildServices(ctx, s.cfg, s.log, s.DB)
	if err != nil {
		return err
	}
	if err := ensureAppServiceSenders(ctx, svc); err != nil {
		svc.DB.Close()
		return err
	}
	api := newAPI(s.cfg, s.log, svc, s.stopCtx, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return svc.DB.Read.PingContext(ctx)
	})
	watchGuests(api.Metrics, svc.Guests)
	watchPush(api.Metrics, svc.PushSender)
	var pub *cluster.WakePublisher
	if s.member != nil {
		// Followers hold long-polls and wake them from this process's
		// wakes.
		pub = cluster.NewWakePublisher(s.DB.Write.DB, s.log)
		svc.Sync.OnWake(pub.Publish)
	}
	s.mu.Lock()
	s.Services, s.API, s.wakePublisher = svc, api, pub
	s.mu.Unlock()
	var h http.Handler = api
	s.serving.Store(&h)
	return nil
}

// follow serves clients by forwarding every request to the writer until
// this process takes the writer lease.
func (s *Server) follow() {
	hc := s.cfg.HTTP
	fwd := cluster.NewForwarder(cluster.ForwardOptions{
		Member: s.member,
		Key:    s.clusterKey,
		ClientAddress: func(r *http.Request) netip.Addr {
			return s.proxies.Client(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
		},
		// The longest any request may take on the writer: an upload's
		// body, then the longest of a long-poll, a download or an answer.
		ReadLimit:  max(hc.ReadTimeout, hc.UploadTimeout),
		WriteLimit: max(hc.ReadTimeout, hc.UploadTimeout) + clientapi.MaxSyncTimeout + max(hc.WriteTimeout, hc.DownloadTimeout),
		Log:        s.log,
	})
	notifier := clientsync.NewNotifier()
	s.wakeFeed = cluster.StartWakeFeed(s.cfg.DatabaseURL, notifier, s.log)
	s.longPolls = cluster.NewLongPolls(fwd, s.wakeFeed, notifier, s.stopCtx, clientapi.SlidingSyncPath, clientapi.MaxSyncTimeout)
	var h http.Handler = s.longPolls
	s.serving.Store(&h)
}

// HeldLongPolls counts the /sync long-polls a follower holds for the
// writer (0 on the writer).
func (s *Server) HeldLongPolls() int64 {
	if s.longPolls == nil {
		return 0
	}
	return s.longPolls.Held()
}

// promote makes a follower the writer once it holds the lease: the
// services are built from the database as a restart would build them
// (positions claimed above every one handed out, caches empty), the
// background jobs start, and the listeners serve the API.
func (s *Server) promote() {
	ctx, cancel := context.WithTimeout(s.stopCtx, time.Minute)
	defer cancel()
	began := time.Now()
	err := s.becomeWriter(ctx)
	if err == nil {
		err = s.startJobs()
	}
	if err != nil {
		s.log.Error("stopping: this process took the writer lease but cannot write", "err", err)
		select {
		case s.done <- err:
		default:
		}
		return
	}
	// Long-polls held for the old writer answer what they have; their
	// clients ask this process next.
	s.longPolls.WakeAll()
	s.wakeFeed.Stop()
	s.log.Info("this process writes now", "took", time.Since(began))
}

// ServeHTTP serves a client listener's request with what this process
// serves now.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.serving.Load()).ServeHTTP(w, r)
}

// Start opens the configured listeners and serves in the background.
func (s *Server) Start() error {
	s.done = make(chan error, 4)
	if s.member != nil {
		if s.cfg.Cluster.Listen != "" {
			if err := s.listenCluster(); err != nil {
				return err
			}
		}
		s.member.Start(s.promote, func(err error) {
			s.log.Error("stopping: this process may no longer write", "err", err)
			select {
			case s.done <- err:
			default:
			}
		})
	}
	if s.member == nil || s.member.Writing() {
		if err := s.startJobs(); err != nil {
			return err
		}
	}
	if s.cfg.Listen != "" {
		if err := s.listen(s.cfg.Listen, nil); err != nil {
			return err
		}
	}
	if s.cfg.TLSListen != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("loading TLS certificate and key: %w", err)
		}
		if err := s.listen(s.cfg.TLSListen, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}); err != nil {
			return err
		}
	}
	return nil
}

// startJobs starts what only the writer runs: presence, guest expiry,
// and the federation, push and application-service senders.
func (s *Server) startJobs() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobsStarted || s.stopCtx.Err() != nil {
		return nil
	}
	s.jobsStarted = true
	s.Services.Presence.Start()
	s.Services.Guests.Start()
	if err := s.Services.FederationSender.Start(); err != nil {
		return err
	}
	s.Services.FederationEDUs.Start()
	if err := s.Services.PushSender.Start(); err != nil {
		return err
	}
	s.Services.AppServiceSender.Start()
	if s.cfg.Experimental.SelfDestructingMessages {
		s.Services.Rooms.StartSelfDestruct(storage.NewRoomStore(s.DB))
	}
	return nil
}

// headerTimeout bounds reading a request's headers, however long
// http.read_timeout allows for the whole request.
const headerTimeout = 10 * time.Second

func (s *Server) listen(addr string, tlsCfg *tls.Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	// The cap counts TCP connections, so it sits below TLS: an excess
	// connection costs no handshake.
	ln = s.connCap.wrap(ln)
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	srv := s.httpServer(s)
	s.mu.Lock()
	s.servers = append(s.servers, srv)
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return nil
}

// listenCluster opens the listener other processes forward requests
// to. It takes no connection cap (every forwarded request of a follower
// arrives from its address) and admits only requests carrying the
// cluster key.
func (s *Server) listenCluster() error {
	ln, err := net.Listen("tcp", s.cfg.Cluster.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s (cluster.listen): %w", s.cfg.Cluster.Listen, err)
	}
	srv := s.httpServer(cluster.Gate(s.clusterKey, func() http.Handler {
		if !s.member.Writing() {
			return nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.API == nil {
			return nil
		}
		return s.API
	}))
	s.mu.Lock()
	s.servers = append(s.servers, srv)
	s.clusterListener = ln
	s.mu.Unlock()
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return nil
}

// ClusterAddr is where other processes reach this one's cluster listener
// (empty on SQLite).
func (s *Server) ClusterAddr() string { return s.clusterAddress() }

// httpServer serves h with the configured timeouts. ReadTimeout covers
// the whole request, body included, so a body that trickles in (or
// never comes) is dropped; WriteTimeout bounds an ordinary answer.
// Uploads, downloads and long-polls extend their own deadlines once they
// know they are one (httpapi).
func (s *Server) httpServer(h http.Handler) *http.Server {
	hc := s.cfg.HTTP
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(headerTimeout, hc.ReadTimeout),
		ReadTimeout:       hc.ReadTimeout,
		WriteTimeout:      hc.WriteTimeout,
		IdleTimeout:       hc.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// clusterAddress is where other processes reach the cluster listener:
// cluster.advertise, else the bound address (the host name when bound to
// every interface).
func (s *Server) clusterAddress() string {
	if s.cfg.Cluster.Advertise != "" {
		return s.cfg.Cluster.Advertise
	}
	s.mu.Lock()
	ln := s.clusterListener
	s.mu.Unlock()
	if ln == nil {
		return ""
	}
	ap, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil {
		return ln.Addr().String()
	}
	if ap.Addr().IsUnspecified() {
		host, _ := os.Hostname()
		return net.JoinHostPort(host, strconv.Itoa(int(ap.Port())))
	}
	return ap.String()
}

// Addrs are the bound addresses, plain HTTP first then TLS, in the order
// configured (useful with port 0).
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.listeners))
	for i, ln := range s.listeners {
		out[i] = ln.Addr().String()
	}
	return out
}

// Writing reports whether this process writes (serves the API itself);
// false while it forwards to the process holding the writer lease.
func (s *Server) Writing() bool { return s.member == nil || s.member.Writing() }

// Done reports a listener that stopped on its own with an error.
func (s *Server) Done() <-chan error { return s.done }

// Stop stops accepting, lets in-flight requests finish within ctx, then
// closes the database.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	servers := s.servers
	s.mu.Unlock()
	var errs []error
	var errsMu sync.Mutex
	var wg sync.WaitGroup
	// Long-polls watch Stopping and return at once; other requests finish
	// within ctx.
	s.stopCancel()
	for _, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(ctx); err != nil {
				errsMu.Lock()
				errs = append(errs, err)
				errsMu.Unlock()
				srv.Close()
			}
		}()
	}
	wg.Wait()
	s.mu.Lock()
	svc := s.Services
	s.mu.Unlock()
	if svc != nil {
		svc.Presence.Stop()
		svc.Guests.Stop()
		svc.FederationEDUs.Stop()
		svc.FederationSender.Stop()
		svc.PushSender.Stop()
		svc.AppServiceSender.Stop()
		svc.E2EE.Stop()
		svc.Rooms.StopSelfDestruct()
	}
	if s.wakeFeed != nil {
		s.wakeFeed.Stop()
	}
	s.mu.Lock()
	pub := s.wakePublisher
	s.mu.Unlock()
	if pub != nil {
		pub.Stop()
	}
	if s.member != nil {
		s.member.Stop(ctx)
	}
	if s.DB != nil {
		errs = append(errs, s.DB.Close())
	}
	if s.releaseServing != nil {
		errs = append(errs, s.releaseServing())
		s.releaseServing = nil
	}
	return errors.Join(errs...)
}
