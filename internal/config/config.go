// Package config holds Foyer's one configuration struct: its defaults, the
// YAML file, FOYER_* environment variables and command-line flags, in that
// order of increasing precedence, and the checks that refuse a bad setup.
package config

import (
	"time"
)

// Registration modes.
const (
	RegistrationOpen   = "open"
	RegistrationToken  = "token"
	RegistrationClosed = "closed"
)

// Config is every setting of a Foyer server. The yaml tag is the config-file
// key; the env tag is the FOYER_ variable; flags are declared in flags.go.
type Config struct {
	ServerName  string `yaml:"server_name" env:"SERVER_NAME"`
	Listen      string `yaml:"listen" env:"LISTEN"`
	TLSListen   string `yaml:"tls_listen" env:"TLS_LISTEN"`
	TLSCert     string `yaml:"tls_cert" env:"TLS_CERT"`
	TLSKey      string `yaml:"tls_key" env:"TLS_KEY"`
	DataDir     string `yaml:"data_dir" env:"DATA_DIR"`
	DatabaseURL string `yaml:"database_url" env:"DATABASE_URL"`
	// PublicBaseURL is what /.well-known/matrix/client advertises; empty
	// means derived from the request's host.
	PublicBaseURL string `yaml:"public_base_url" env:"PUBLIC_BASE_URL"`

	Registration string `yaml:"registration" env:"REGISTRATION"`
	Guests       bool   `yaml:"guests" env:"GUESTS"`
	// RegistrationSharedSecret enables shared-secret registration at
	// /_synapse/admin/v1/register, the admin API that provisioning tools
	// (register_new_matrix_user and the like) use whatever the
	// registration mode; empty disables it.
	RegistrationSharedSecret string `yaml:"registration_shared_secret" env:"REGISTRATION_SHARED_SECRET"`
	// RegistrationRequireCaptcha adds the captcha stage (captcha.go) to
	// every user registration flow. A key of its own beside
	// `registration`, which is a plain string.
	RegistrationRequireCaptcha bool `yaml:"registration_require_captcha" env:"REGISTRATION_REQUIRE_CAPTCHA"`

	// RegistrationExplicit records that the registration mode was given by
	// the operator rather than defaulted; open registration on a public
	// address needs that.
	RegistrationExplicit bool `yaml:"-"`

	LogLevel  string `yaml:"log_level" env:"LOG_LEVEL"`
	LogFormat string `yaml:"log_format" env:"LOG_FORMAT"`

	// ShutdownTimeout bounds how long in-flight requests may run on SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" env:"SHUTDOWN_TIMEOUT"`

	Limits    Limits    `yaml:"limits"`
	RateLimit RateLimit `yaml:"rate_limits"`
	Passwords Passwords `yaml:"passwords"`
	Media     Media     `yaml:"media"`
	// GuestAccess tunes guests (guestaccess.go); `guests` above still
	// switches them on or off.
	GuestAccess GuestAccess `yaml:"guest_access"`
	// Auth bounds the life of access tokens (auth.go).
	Auth Auth `yaml:"auth"`
	TURN TURN `yaml:"turn"`
	// Captcha is the third-party captcha behind m.login.recaptcha.
	Captcha Captcha `yaml:"captcha"`
	E2EE    E2EE    `yaml:"e2ee"`
	// AccountLimits and SyncLimits bound what one account may store and
	// what one sync may carry (accountlimits.go).
	AccountLimits AccountLimits `yaml:"account_limits"`
	SyncLimits    SyncLimits    `yaml:"sync_limits"`
	// HTTP bounds connections and names trusted reverse proxies (http.go).
	HTTP HTTP `yaml:"http"`
	// Outbound guards requests to addresses others choose (outbound.go).
	Outbound Outbound `yaml:"outbound"`
	// Federation configures the server-server API (federation.go).
	Federation Federation `yaml:"federation"`
	// ServerNotices lets operators send users notices (servernotices.go).
	ServerNotices ServerNotices `yaml:"server_notices"`
	// Push tunes delivery to push gateways (push.go).
	Push Push `yaml:"push"`

	// AppServices are the registration files of application services
	// (appservices.go); AppServiceDelivery tunes sending to them.
	AppServices        []string           `yaml:"app_services" env:"APP_SERVICE_CONFIG_FILES"`
	AppServiceDelivery AppServiceDelivery `yaml:"app_service_delivery"`

	// Cluster lets processes on one PostgreSQL database reach each
	// other (cluster.go).
	Cluster Cluster `yaml:"cluster"`

	Experimental Experimental `yaml:"experimental"`
}

// Limits are request-size caps.
type Limits struct {
	// MaxRequestBytes caps any JSON request body other than an event.
	MaxRequestBytes int64 `yaml:"max_request_bytes" env:"MAX_REQUEST_BYTES"`
}

// Rate is a token bucket: PerSecond tokens refill each second up to Burst.
// PerSecond 0 switches the limit off.
type Rate struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// RateLimit holds the per-client-IP limits, and the per-guest send limits.
type RateLimit struct {
	GuestRegistration Rate `yaml:"guest_registration" env:"RATE_GUEST_REGISTRATION"`
	Registration      Rate `yaml:"registration" env:"RATE_REGISTRATION"`
	Login             Rate `yaml:"login" env:"RATE_LOGIN"`
	// GuestLinkRedemption: guest-link redemptions per IP.
	GuestLinkRedemption Rate `yaml:"guest_link_redemption" env:"RATE_GUEST_LINK_REDEMPTION"`
	// GuestEvents and GuestStateEvents: events and state events each
	// guest may send (per guest account, not per IP).
	GuestEvents      Rate `yaml:"guest_events" env:"RATE_GUEST_EVENTS"`
	GuestStateEvents Rate `yaml:"guest_state_events" env:"RATE_GUEST_STATE_EVENTS"`
	// GuestToDevice: to-device sends each guest may make; GuestWrites:
	// its other writes that take room on disk (filter and key uploads).
	GuestToDevice Rate `yaml:"guest_to_device" env:"RATE_GUEST_TO_DEVICE"`
	GuestWrites   Rate `yaml:"guest_writes" env:"RATE_GUEST_WRITES"`
	// GuestURLPreviews: URL previews each guest may have fetched (answers
	// from the cache are free).
	GuestURLPreviews Rate `yaml:"guest_url_previews" env:"RATE_GUEST_URL_PREVIEWS"`
}

// Passwords tunes argon2id. The defaults follow OWASP's guidance for
// argon2id (19 MiB, two passes); MaxConcurrent bounds memory use.
type Passwords struct {
	MemoryKiB     uint32 `yaml:"memory_kib" env:"PASSWORD_MEMORY_KIB"`
	Iterations    uint32 `yaml:"iterations" env:"PASSWORD_ITERATIONS"`
	MaxConcurrent int    `yaml:"max_concurrent" env:"PASSWORD_MAX_CONCURRENT"`
	MinLength     int    `yaml:"min_length" env:"PASSWORD_MIN_LENGTH"`
}

// Media configures the content repository.
type Media struct {
	// Store is where content is kept: directory (a local or shared
	// filesystem) or s3 (an S3-compatible bucket, see mediastore.go).
	Store string `yaml:"store" env:"MEDIA_STORE"`
	// Directory is the directory store's root; empty means media/ in
	// the data dir.
	Directory string  `yaml:"directory" env:"MEDIA_DIRECTORY"`
	S3        MediaS3 `yaml:"s3"`
	// MaxUploadBytes caps one upload; larger ones get 413 M_TOO_LARGE.
	MaxUploadBytes int64 `yaml:"max_upload_bytes" env:"MEDIA_MAX_UPLOAD_BYTES"`
	// LegacyUnauthenticated serves the deprecated unauthenticated
	// /_matrix/media/{v3,r0}/download and /thumbnail endpoints. false
	// answers them 404 M_NOT_FOUND for all media; only the authenticated
	// /_matrix/client/v1/media/... endpoints then serve it.
	LegacyUnauthenticated bool `yaml:"legacy_unauthenticated" env:"MEDIA_LEGACY_UNAUTHENTICATED"`
	// FreezeLegacyAfter is the spec's "freeze" of those endpoints: an
	// RFC 3339 time (e.g. 2024-09-01T00:00:00Z) from which newly uploaded
	// media is served only by the authenticated endpoints (404 M_NOT_FOUND
	// on the legacy ones) while older media keeps working there. Empty:
	// no freeze. Only consulted while LegacyUnauthenticated is true.
	FreezeLegacyAfter string `yaml:"freeze_legacy_after" env:"MEDIA_FREEZE_LEGACY_AFTER"`
	// RemoteFetchTimeout bounds fetching one item of another server's
	// media, from the request to the last byte stored.
	RemoteFetchTimeout time.Duration `yaml:"remote_fetch_timeout" env:"MEDIA_REMOTE_FETCH_TIMEOUT"`
	// MaxConcurrentRemoteFetches bounds the fetches of other servers'
	// media running at once; further ones wait (within the timeout).
	MaxConcurrentRemoteFetches int `yaml:"max_concurrent_remote_fetches" env:"MEDIA_MAX_CONCURRENT_REMOTE_FETCHES"`
	// URLPreviewEnabled serves GET /_matrix/client/v1/media/preview_url
	// (and the legacy /_matrix/media/{v3,r0}/preview_url); false leaves
	// them unrouted (404 M_UNRECOGNIZED), as the reference server does.
	URLPreviewEnabled bool `yaml:"url_preview_enabled" env:"MEDIA_URL_PREVIEW_ENABLED"`
	// URLPreviewMaxPageBytes caps the page fetched for a preview; a
	// larger one gets 502 M_TOO_LARGE.
	URLPreviewMaxPageBytes int64 `yaml:"url_preview_max_page_bytes" env:"MEDIA_URL_PREVIEW_MAX_PAGE_BYTES"`
	// URLPreviewMaxImageBytes caps the image of a preview (og:image, or
	// the URL itself when it is an image); it is also held to
	// MaxUploadBytes, since the image becomes local media.
	URLPreviewMaxImageBytes int64 `yaml:"url_preview_max_image_bytes" env:"MEDIA_URL_PREVIEW_MAX_IMAGE_BYTES"`
	// URLPreviewTimeout bounds one preview, page and image together.
	URLPreviewTimeout time.Duration `yaml:"url_preview_timeout" env:"MEDIA_URL_PREVIEW_TIMEOUT"`
	// URLPreviewCacheFor is how long a preview is answered from the
	// database before the page is fetched again.
	URLPreviewCacheFor time.Duration `yaml:"url_preview_cache_for" env:"MEDIA_URL_PREVIEW_CACHE_FOR"`
}

// FreezeLegacyAfterTime parses FreezeLegacyAfter; zero when empty or
// invalid (Validate reports invalid values).
func (m Media) FreezeLegacyAfterTime() time.Time {
	if m.FreezeLegacyAfter == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, m.FreezeLegacyAfter)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Default is the configuration of `go run ./cmd/foyer` with no arguments: a
// loopback homeserver for localhost, open registration, guests on.
func Default() Config {
	return Config{
		ServerName:      "localhost",
		Listen:          "127.0.0.1:8008",
		DataDir:         "./foyer-data",
		Registration:    RegistrationOpen,
		Guests:          true,
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: 10 * time.Second,
		Limits: Limits{
			MaxRequestBytes: 1 << 20,
		},
		RateLimit: RateLimit{
			GuestRegistration: Rate{PerSecond: 0.5, Burst: 20},
			Registration:      Rate{PerSecond: 0.5, Burst: 20},
			Login:             Rate{PerSecond: 1, Burst: 20},

			GuestLinkRedemption: Rate{PerSecond: 0.5, Burst: 20},
			GuestEvents:         Rate{PerSecond: 2, Burst: 30},
			GuestStateEvents:    Rate{PerSecond: 0.2, Burst: 10},
			GuestToDevice:       Rate{PerSecond: 2, Burst: 30},
			GuestWrites:         Rate{PerSecond: 1, Burst: 20},
			GuestURLPreviews:    Rate{PerSecond: 0.1, Burst: 10},
		},
		AccountLimits:      defaultAccountLimits(),
		SyncLimits:         SyncLimits{ToDeviceBytes: 1 << 20, InitialPresence: 200},
		GuestAccess:        defaultGuestAccess(),
		Auth:               defaultAuth(),
		TURN:               TURN{TTL: 24 * time.Hour},
		Captcha:            defaultCaptcha(),
		E2EE:               E2EE{VerifyKeySignatures: true},
		HTTP:               defaultHTTP(),
		Cluster:            defaultCluster(),
		Federation:         Federation{Enabled: true},
		ServerNotices:      defaultServerNotices(),
		Push:               defaultPush(),
		AppServiceDelivery: defaultAppServiceDelivery(),
		Passwords: Passwords{
			MemoryKiB:     19 * 1024,
			Iterations:    2,
			MaxConcurrent: 4,
			MinLength:     0,
		},
		Media: Media{
			Store:                      MediaStoreDirectory,
			MaxUploadBytes:             50 << 20,
			LegacyUnauthenticated:      true,
			RemoteFetchTimeout:         60 * time.Second,
			MaxConcurrentRemoteFetches: 8,
			URLPreviewEnabled:          true,
			URLPreviewMaxPageBytes:     10 << 20,
			URLPreviewMaxImageBytes:    10 << 20,
			URLPreviewTimeout:          10 * time.Second,
			URLPreviewCacheFor:         time.Hour,
		},
	}
}

// MaxEventBytes is the spec's cap on a whole event; bodies of event-sending
// routes are capped at it.
const MaxEventBytes = 65536
