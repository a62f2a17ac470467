package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/storage"
)

// The server builds its federation sender with its own name and the
// federation settings: nothing is queued for itself, for a blocked server,
// or for anyone while federation is off; the sender starts and stops with
// the server.
func TestServerFederationSenderFollowsSettings(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		cfg := config.Default()
		cfg.ServerName = "a.example"
		cfg.DataDir = t.TempDir()
		cfg.Listen = "127.0.0.1:0"
		cfg.Federation.Enabled = enabled
		cfg.Federation.BlockedServers = []string{"blocked.example"}
		s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		to := []string{"a.example", "blocked.example"}
		if !enabled {
			to = append(to, "other.example")
		}
		if err := s.Services.FederationSender.Queue(ctx, to, json.RawMessage(`{"pdu":1}`)); err != nil {
			t.Fatal(err)
		}
		dests, err := storage.NewFederationQueue(s.DB).Destinations(ctx)
		if err != nil || len(dests) != 0 {
			t.Fatalf("federation enabled %v: queued for %v (%v)", enabled, dests, err)
		}
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := s.Stop(stopCtx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
}
