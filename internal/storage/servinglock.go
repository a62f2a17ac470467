package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// servingLockFile sits beside the SQLite database; the process serving
// it holds a lock on the file for as long as it runs.
const servingLockFile = "serving.lock"

// ErrAlreadyServed is returned when another process serves the data
// directory's SQLite database.
var ErrAlreadyServed = errors.New("another process is already serving this SQLite database")

// LockSQLiteServing makes the caller the one process serving the SQLite
// database in dataDir: SQLite's in-process coordination (stream positions,
// room write locks, wake-ups) cannot span processes, so a second server
// on the same file is refused rather than left to corrupt what clients
// see. Operator subcommands do not take the lock: they write through
// SQLite's own locking while the server runs. The lock is the operating
// system's, so it goes when the process dies, however it dies.
func LockSQLiteServing(dataDir string) (release func() error, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	path := filepath.Join(dataDir, servingLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	held, err := tryLockFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if !held {
		holder := ""
		if pid := holderPID(f); pid != "" {
			holder = " (process " + pid + ")"
		}
		f.Close()
		return nil, fmt.Errorf("%w in %s%s: stop it first; several processes need PostgreSQL (database_url)", ErrAlreadyServed, dataDir, holder)
	}
	// The holder's process ID, for the message a second process prints.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() error {
		_ = f.Truncate(0)
		return f.Close() // closing the file releases the lock
	}, nil
}

// holderPID is the process ID the lock's holder wrote ("" if none).
func holderPID(f *os.File) string {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	return strings.TrimSpace(string(buf[:n]))
}

// SQLiteServer says which process serves the SQLite database in dataDir:
// held is false when none does.
func SQLiteServer(dataDir string) (holder string, held bool, err error) {
	f, err := os.OpenFile(filepath.Join(dataDir, servingLockFile), os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	free, err := tryLockFile(f)
	if err != nil || free {
		return "", false, err
	}
	return "process " + holderPID(f), true, nil
}
