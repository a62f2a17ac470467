// Package cluster is what the processes serving one database know of each
// other: who is alive (heartbeats) and who holds the writer lease, the
// right to write room events and streams and to run background jobs.
package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// instanceFile names this process among those serving the database. It
// lives in the data dir, which one process serves at a time, so a process
// restarted on the same data dir is the same instance and takes its own
// lease back at once, even after a crash.
const instanceFile = "instance-id"

// InstanceID reads the data dir's instance ID, creating it the first time.
func InstanceID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, instanceFile)
	data, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(data)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading the instance ID: %w", err)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("creating data directory: %w", err)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the instance ID: %w", err)
	}
	return id, nil
}
