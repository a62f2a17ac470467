package config

import (
	"fmt"
	"time"
)

// Push is the push: section: how notifications reach the push gateways
// of users' HTTP pushers (requests go through the outbound client, so
// outbound.allow_private_addresses and outbound.trusted_ca_file apply).
type Push struct {
	// GiveUpAfter is how long a notification is retried while its gateway
	// fails (network errors, 5xx, 429) before it is dropped and the
	// pusher's next one tried. Retries back off exponentially from 1 s
	// to at most an hour.
	GiveUpAfter time.Duration `yaml:"give_up_after" env:"PUSH_GIVE_UP_AFTER"`
	// RequestTimeout bounds one request to a gateway; a gateway that does
	// not answer in time counts as failing.
	RequestTimeout time.Duration `yaml:"request_timeout" env:"PUSH_REQUEST_TIMEOUT"`
}

// Defaults of the push section.
const (
	DefaultPushGiveUpAfter    = 24 * time.Hour
	DefaultPushRequestTimeout = 30 * time.Second
)

func defaultPush() Push {
	return Push{GiveUpAfter: DefaultPushGiveUpAfter, RequestTimeout: DefaultPushRequestTimeout}
}

func (p Push) validate() []error {
	var errs []error
	if p.GiveUpAfter <= 0 {
		errs = append(errs, fmt.Errorf("push.give_up_after must be positive (the default is %s)", DefaultPushGiveUpAfter))
	}
	// The outbound client bounds any one request at 2 minutes.
	if p.RequestTimeout < 100*time.Millisecond || p.RequestTimeout > 2*time.Minute {
		errs = append(errs, fmt.Errorf("push.request_timeout must be between 100ms and 2m, the outbound client's bound on one request (the default is %s)", DefaultPushRequestTimeout))
	}
	return errs
}
