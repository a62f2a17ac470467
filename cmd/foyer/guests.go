package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"foyer/internal/server"
)

// guestsCommand is `foyer guests expire`: deactivate every guest idle for
// longer than guest_access.expire_after (devices, keys and tokens go at
// once). Leaving their rooms writes room events, which only the serving
// process may do: a running server does it within
// guest_access.expire_interval, a stopped one when it next starts.
func guestsCommand(args []string, stdout, stderr io.Writer) error {
	cfg, rest, err := loadConfig("guests", args, stderr, nil)
	if err != nil {
		return err
	}
	if len(rest) != 1 || rest[0] != "expire" {
		return errors.New("usage: foyer guests expire")
	}
	if cfg.GuestAccess.ExpireAfter <= 0 {
		return errors.New("guest expiry is off (guest_access.expire_after is 0); nothing to do")
	}
	ctx := context.Background()
	svc, err := server.OpenServices(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer svc.DB.Close()
	n, err := svc.Guests.Expire(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Expired %d guest(s) idle for more than %s\n", n, cfg.GuestAccess.ExpireAfter)
	return nil
}
