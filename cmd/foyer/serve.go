package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"foyer/internal/server"
)

func serve(args []string, stdout, stderr io.Writer) error {
	var check bool
	cfg, rest, err := loadConfig("serve", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&check, "check", false, "show the processes serving the database and which one writes, then exit")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", rest)
	}
	if check {
		return checkCluster(context.Background(), cfg, stdout)
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signalContext()
	defer stop()

	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("cannot start:\n%w", err)
	}
	if err := installCrashHooks(srv, stderr); err != nil {
		_ = srv.Stop(context.Background())
		return err
	}
	if err := srv.Start(); err != nil {
		_ = srv.Stop(context.Background())
		return err
	}
	addrs := srv.Addrs()
	for i, a := range addrs {
		scheme := "http"
		if cfg.Listen == "" || i > 0 {
			scheme = "https"
		}
		fmt.Fprintf(stdout, "Foyer is serving %s on %s://%s\n", cfg.ServerName, scheme, a)
	}
	if !srv.Writing() {
		fmt.Fprintf(stdout, "Another process writes to this database: this one forwards requests to it, and takes over if it stops (docs/scaling.md)\n")
	}
	fmt.Fprintf(stdout, "Registration: %s; guests: %v; data: %s\n", cfg.Registration, cfg.Guests, dataDescription(cfg.DatabaseURL, cfg.DataDir))
	fmt.Fprintf(stdout, "Create a user:  foyer user create alice --password 'secret' --data-dir %s --server-name %s\n", cfg.DataDir, cfg.ServerName)
	log.Info("started", "server_name", cfg.ServerName, "addrs", addrs)

	select {
	case <-ctx.Done():
		log.Info("shutting down", "grace", cfg.ShutdownTimeout)
	case err := <-srv.Done():
		if err != nil {
			log.Error("listener failed", "err", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Stop(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func dataDescription(url, dir string) string {
	if url != "" {
		return "PostgreSQL"
	}
	return "SQLite in " + dir
}
