// Command foyer is the Foyer homeserver: `foyer serve` (the default) runs
// it; the other subcommands are for operators and work while it runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"foyer/internal/config"
)

const usage = `foyer — a Matrix homeserver

Usage:
  foyer [serve] [flags]                          run the homeserver (default)
  foyer user create NAME [--password P] [--admin] [flags]
  foyer registration-token create [--uses N] [--expires DURATION] [flags]
  foyer guests expire [flags]                    expire guests idle for guest_access.expire_after

Shared flags (every one is also a config-file key and a FOYER_* variable):
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args, stdout, stderr)
	case "user":
		err = userCommand(args, stdout, stderr)
	case "registration-token":
		err = registrationTokenCommand(args, stdout, stderr)
	case "guests":
		err = guestsCommand(args, stdout, stderr)
	case "help":
		printUsage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "foyer: unknown command %q\n\n", cmd)
		printUsage(stderr)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "foyer: %v\n", err)
		return 1
	}
	return 0
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	fs := flag.NewFlagSet("foyer", flag.ContinueOnError)
	config.RegisterFlags(fs)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// loadConfig parses args (flags may come before or after positional
// arguments) and resolves the configuration. extra declares a
// subcommand's own flags.
func loadConfig(name string, args []string, stderr io.Writer, extra func(fs *flag.FlagSet)) (config.Config, []string, error) {
	fs := flag.NewFlagSet("foyer "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := config.RegisterFlags(fs)
	if extra != nil {
		extra(fs)
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return config.Config{}, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	cfg, err := flags.Resolve(fs, os.Environ())
	return cfg, positional, err
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
