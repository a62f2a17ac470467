package media

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// staleTempAfter is how old a temporary file must be before a starting
// server removes it as a crash's leftover. The directory may be shared
// with other servers writing there now; no upload runs this long.
const staleTempAfter = 24 * time.Hour

// prepareTempDir creates dir, where content is written before it is
// stored, and removes the stale files in it.
func prepareTempDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	cutoff := time.Now().Add(-staleTempAfter)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}
