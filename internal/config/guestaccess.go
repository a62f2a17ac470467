package config

import (
	"fmt"
	"strings"
	"time"
)

// GuestAccess is the guest_access: section: how guests arrive, where they
// may go, how long they live and how much they may do. Whether guests
// exist at all stays the top-level `guests` switch.
type GuestAccess struct {
	// OpenRegistration lets anyone call POST /register?kind=guest. false
	// answers that 403 M_FORBIDDEN; guest links keep working.
	OpenRegistration bool `yaml:"open_registration" env:"GUEST_OPEN_REGISTRATION"`
	// ForbidPublicRooms keeps guests out of rooms published in the room
	// directory (Third Room's rule); rooms reached by a guest link stay
	// joinable.
	ForbidPublicRooms bool `yaml:"forbid_public_rooms" env:"GUEST_FORBID_PUBLIC_ROOMS"`
	// AutoJoinRooms are room IDs or local aliases every new guest joins
	// right after registering, when the room allows guests. In the
	// environment: a comma-separated list.
	AutoJoinRooms []string `yaml:"auto_join_rooms" env:"GUEST_AUTO_JOIN_ROOMS"`
	// ExpireAfter is how long a guest may be inactive before it is
	// removed from its rooms and deactivated; 0 keeps guests for ever.
	ExpireAfter time.Duration `yaml:"expire_after" env:"GUEST_EXPIRE_AFTER"`
	// ExpireInterval is how often the server looks for expired guests.
	ExpireInterval time.Duration `yaml:"expire_interval" env:"GUEST_EXPIRE_INTERVAL"`
	// MaxLive caps the guests that exist at once (0: unlimited).
	MaxLive int64 `yaml:"max_live" env:"GUEST_MAX_LIVE"`
	// MaxRooms caps how many rooms one guest may be joined to (0:
	// unlimited).
	MaxRooms int `yaml:"max_rooms" env:"GUEST_MAX_ROOMS"`
	// LinkURL, when set, is the shareable address of a guest link: a
	// template in which {token} and {room_id} are replaced, e.g.
	// https://chat.example.org/#/guest/{token}.
	LinkURL string `yaml:"link_url" env:"GUEST_LINK_URL"`
	// DisabledExtensions switches off Foyer's extensions to the spec's
	// guest endpoint list (G-14) by group name; see GuestExtensionGroups.
	DisabledExtensions []string `yaml:"disabled_extensions" env:"GUEST_DISABLED_EXTENSIONS"`
	// RequireCaptcha puts the captcha stage (captcha: section) before
	// guest registration and guest-link redemption, which then answer
	// 401 with UIA flows like any registration.
	RequireCaptcha bool `yaml:"require_captcha" env:"GUEST_REQUIRE_CAPTCHA"`
	// ProofOfWork puts Foyer's proof-of-work stage (internal/proofofwork)
	// before guest registration and guest-link redemption.
	ProofOfWork bool `yaml:"proof_of_work" env:"GUEST_PROOF_OF_WORK"`
	// ProofOfWorkBits is the difficulty: the zero bits a hash must start
	// with; each bit doubles the client's expected work.
	ProofOfWorkBits int `yaml:"proof_of_work_bits" env:"GUEST_PROOF_OF_WORK_BITS"`
	// ProofOfWorkTTL is how long a challenge may be answered.
	ProofOfWorkTTL time.Duration `yaml:"proof_of_work_ttl" env:"GUEST_PROOF_OF_WORK_TTL"`
}

// DefaultProofOfWorkBits takes the join page's worker about 0.2 s in
// headless Chromium on the test machine (median), a few times that in a
// phone's browser (README, "Proof of work").
const DefaultProofOfWorkBits = 18

// GuestExtensionGroups are the names DisabledExtensions accepts; the
// routes of each group are listed in internal/guest.
var GuestExtensionGroups = []string{
	"capabilities", "logout", "filters_push_rules", "keys_changes", "typing_receipts",
	"element_call", "join_by_alias", "room_summary", "joined_rooms", "url_previews", "sliding_sync",
}

// defaultGuestAccess is the guest_access section of Default.
func defaultGuestAccess() GuestAccess {
	return GuestAccess{
		OpenRegistration: true,
		ExpireAfter:      30 * 24 * time.Hour,
		ExpireInterval:   10 * time.Minute,
		MaxRooms:         50,
		ProofOfWorkBits:  DefaultProofOfWorkBits,
		ProofOfWorkTTL:   10 * time.Minute,
	}
}

// validate returns the problems with the section.
func (g GuestAccess) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if g.ExpireAfter < 0 {
		add("guest_access.expire_after must not be negative (0 keeps guests for ever; the default is 720h)")
	} else if g.ExpireAfter > 0 && g.ExpireAfter < time.Minute {
		add("guest_access.expire_after %s is shorter than a minute, the granularity of last-seen times; use e.g. 720h", g.ExpireAfter)
	}
	if g.ExpireInterval <= 0 {
		add("guest_access.expire_interval must be positive, e.g. 10m")
	}
	if g.MaxLive < 0 {
		add("guest_access.max_live must not be negative (0: unlimited)")
	}
	if g.MaxRooms < 0 {
		add("guest_access.max_rooms must not be negative (0: unlimited)")
	}
	for _, r := range g.AutoJoinRooms {
		if !strings.HasPrefix(r, "!") && !strings.HasPrefix(r, "#") || !strings.Contains(r, ":") {
			add("guest_access.auto_join_rooms: %q is neither a room ID (!id:server) nor an alias (#name:server)", r)
		}
	}
	if g.LinkURL != "" && !strings.Contains(g.LinkURL, "{token}") {
		add("guest_access.link_url %q must contain {token}", g.LinkURL)
	}
	if g.ProofOfWorkBits < 1 || g.ProofOfWorkBits > 32 {
		add("guest_access.proof_of_work_bits must be between 1 and 32, not %d (the default is %d)", g.ProofOfWorkBits, DefaultProofOfWorkBits)
	}
	if g.ProofOfWorkTTL < time.Second {
		add("guest_access.proof_of_work_ttl must be at least 1s, not %s (the default is 10m)", g.ProofOfWorkTTL)
	}
	for _, name := range g.DisabledExtensions {
		known := false
		for _, k := range GuestExtensionGroups {
			known = known || k == name
		}
		if !known {
			add("guest_access.disabled_extensions: %q is not one of %s", name, strings.Join(GuestExtensionGroups, ", "))
		}
	}
	return errs
}

// GuestExtensionDisabled reports whether the named group is switched off.
func (g GuestAccess) GuestExtensionDisabled(group string) bool {
	for _, d := range g.DisabledExtensions {
		if d == group {
			return true
		}
	}
	return false
}
