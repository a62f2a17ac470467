package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// A real client on each of two federating servers: matrix-js-sdk with its
// Rust crypto runs tests/e2e/across-servers.fed.mjs against two Foyer
// servers that reach each other as deployed servers do (TLS, discovery,
// the outbound client). It needs Node and tests/e2e/node_modules, which
// `make test` installs first (scripts/install-test-deps.sh).
func TestMatrixJSSDKAcrossServers(t *testing.T) {
	e2eDir, err := filepath.Abs("../e2e")
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if _, statErr := os.Stat(filepath.Join(e2eDir, "node_modules", "matrix-js-sdk")); err != nil || statErr != nil {
		t.Skip("node or tests/e2e/node_modules is missing: run scripts/install-test-deps.sh (make test does)")
	}
	servers := testharness.StartFederation(t, "sqlite", 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-timeout=150000", "across-servers.fed.mjs")
	cmd.Dir = e2eDir
	cmd.Env = append(os.Environ(), "FOYER_URL="+servers[0].URL, "FOYER_URL_B="+servers[1].URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("matrix-js-sdk across servers: %v\n%s", err, out)
	}
}
