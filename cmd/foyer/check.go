package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"foyer/internal/cluster"
	"foyer/internal/config"
	"foyer/internal/storage"
)

// checkCluster is `foyer serve --check`: the processes serving the
// configured database, as their heartbeats show them, and which one
// holds the writer lease. It serves nothing.
func checkCluster(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	if cfg.DatabaseURL == "" {
		holder, held, err := storage.SQLiteServer(cfg.DataDir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Database: %s (one process serves it)\n", dataDescription(cfg.DatabaseURL, cfg.DataDir))
		if held {
			fmt.Fprintf(stdout, "Served by %s\n", holder)
		} else {
			fmt.Fprintln(stdout, "No process is serving it.")
		}
		return nil
	}
	db, err := storage.Open(ctx, cfg.DatabaseURL, cfg.DataDir, storage.AccountLimits{})
	if err != nil {
		return err
	}
	defer db.Close()
	store := storage.NewClusterStore(db)
	now := time.Now()
	procs, err := store.Processes(ctx, now.Add(-3*cluster.DefaultLeaseTTL))
	if err != nil {
		return err
	}
	lease, err := store.Lease(ctx, cluster.WriterLease)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Database: %s\n", dataDescription(cfg.DatabaseURL, cfg.DataDir))
	if len(procs) == 0 {
		fmt.Fprintln(stdout, "No process is serving it.")
	}
	for _, p := range procs {
		role := "follower"
		if p.InstanceID == lease.Holder && lease.Expires.After(now) {
			role = "writer"
		}
		clusterAddr := ""
		if p.ClusterAddress != "" {
			clusterAddr = "  cluster " + p.ClusterAddress
		}
		state := "alive"
		if now.Sub(p.Heartbeat) > 2*cluster.DefaultHeartbeat {
			state = "silent"
		}
		fmt.Fprintf(stdout, "%s  %s  %s (process %d)  listening on %s%s  up %s  last heartbeat %s ago (%s)\n",
			p.InstanceID, role, p.Hostname, p.PID, strings.Join(p.Addresses, " "), clusterAddr,
			now.Sub(p.Started).Round(time.Second), now.Sub(p.Heartbeat).Round(100*time.Millisecond), state)
	}
	if lease.Holder != "" && lease.Expires.After(now) {
		fmt.Fprintf(stdout, "Writer lease: %s until %s\n", lease.Holder, lease.Expires.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintln(stdout, "Writer lease: free")
	}
	return nil
}
