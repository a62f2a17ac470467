package main

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"foyer/internal/server"
)

// renameCrashVar names a hook for Foyer's crash tests only
// (TestRenameUpgradeResumesAfterCrash): FOYER_TEST_CRASH_AFTER_RENAME_ROOMS=N
// makes `foyer serve` exit at once, without any clean-up, right after a
// rename upgrade has moved its Nth room, as a crash or a power cut would
// stop it half-way. It is not a setting: nothing in a deployment should
// set it, and the server says loudly when it is set.
const renameCrashVar = "FOYER_TEST_CRASH_AFTER_RENAME_ROOMS"

// renameCrashExit is the exit status of that deliberate crash.
const renameCrashExit = 86

func installCrashHooks(srv *server.Server, stderr io.Writer) error {
	v, ok := os.LookupEnv(renameCrashVar)
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return fmt.Errorf("%s must be a positive number of rooms, not %q", renameCrashVar, v)
	}
	if srv.Services == nil {
		return fmt.Errorf("%s needs a process that writes, and this one follows another", renameCrashVar)
	}
	fmt.Fprintf(stderr, "WARNING: %s=%d is set: this server will exit in the middle of a rename upgrade (a test hook)\n", renameCrashVar, n)
	srv.Services.Guests.AfterRenamedRoom(func(moved int) {
		if moved == n {
			os.Exit(renameCrashExit)
		}
	})
	return nil
}
