package media

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A starting server removes only temporary files old enough to be a
// crash's leftovers: the directory may be shared with a server that is
// writing one now.
func TestFileStoreKeepsOtherServersTemporaryFiles(t *testing.T) {
	root := filepath.Join(t.TempDir(), "media")
	if _, err := NewFileStore(root); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(root, "tmp", "upload-fresh")
	stale := filepath.Join(root, "tmp", "upload-stale")
	for _, p := range []string{fresh, stale} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-staleTempAfter - time.Minute)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileStore(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh temporary file was removed: %v", err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a stale temporary file was kept: %v", err)
	}
}
