package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/server"
)

// userCommand is `foyer user create NAME [--password P] [--admin]`.
func userCommand(args []string, stdout, stderr io.Writer) error {
	var password string
	var admin bool
	cfg, rest, err := loadConfig("user", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&password, "password", "", "the new user's password (default: a random one, printed)")
		fs.BoolVar(&admin, "admin", false, "make the user a server admin")
	})
	if err != nil {
		return err
	}
	if len(rest) != 2 || rest[0] != "create" {
		return errors.New("usage: foyer user create NAME [--password P] [--admin]")
	}
	ctx := context.Background()
	svc, err := server.OpenServices(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer svc.DB.Close()
	generated := password == ""
	if generated {
		password = accounts.RandomString(20)
	}
	creds, err := svc.Accounts.Register(ctx, accounts.RegisterRequest{
		Username: rest[1], Password: password, InhibitLogin: true, Admin: admin,
	})
	var ue *accounts.UsernameError
	switch {
	case errors.As(err, &ue):
		return fmt.Errorf("cannot use %q: %s", rest[1], ue.Reason)
	case errors.Is(err, accounts.ErrUserInUse):
		return fmt.Errorf("%s already exists", accounts.UserID(rest[1], cfg.ServerName))
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "Created %s", creds.UserID)
	if admin {
		fmt.Fprint(stdout, " (server admin)")
	}
	fmt.Fprintln(stdout)
	if generated {
		fmt.Fprintf(stdout, "Password: %s\n", password)
	}
	return nil
}

// registrationTokenCommand is `foyer registration-token create`.
func registrationTokenCommand(args []string, stdout, stderr io.Writer) error {
	var uses int64
	var expires time.Duration
	cfg, rest, err := loadConfig("registration-token", args, stderr, func(fs *flag.FlagSet) {
		fs.Int64Var(&uses, "uses", 0, "how many registrations the token allows (0: unlimited)")
		fs.DurationVar(&expires, "expires", 0, "how long the token stays valid, e.g. 72h (0: forever)")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 || rest[0] != "create" {
		return errors.New("usage: foyer registration-token create [--uses N] [--expires DURATION]")
	}
	if uses < 0 || expires < 0 {
		return errors.New("--uses and --expires must not be negative")
	}
	ctx := context.Background()
	svc, err := server.OpenServices(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer svc.DB.Close()
	t, err := svc.Accounts.CreateRegistrationToken(ctx, uses, expires)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, t.Token)
	return nil
}
