#!/usr/bin/env bash
# Browser tests of the join page (/_foyer/join/..., /_foyer/room/...):
# builds the foyer binary, starts it on a free loopback port with a
# throwaway data directory and rate limits off, runs the Node tests
# (node:test; Debian's Chromium driven by playwright-core; matrix-js-sdk
# as the other client) against it, and always stops it. Screenshots go to
# test-artifacts/browser/. Needs node, /usr/bin/chromium and
# tests/browser/node_modules (scripts/install-test-deps.sh installs them).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

command -v node >/dev/null 2>&1 || { echo "browser: node is not installed" >&2; exit 1; }
chromium="${FOYER_CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] || { echo "browser: $chromium is missing; run scripts/install-test-deps.sh" >&2; exit 1; }
for pkg in playwright-core matrix-js-sdk; do
  if [ ! -d "$here/node_modules/$pkg" ]; then
    echo "browser: tests/browser/node_modules/$pkg is missing; run scripts/install-test-deps.sh" >&2
    exit 1
  fi
done

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "browser: building foyer"
(cd "$root" && go build -o "$tmp/foyer" ./cmd/foyer)

port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
url="http://127.0.0.1:$port"
FOYER_RATE_GUEST_REGISTRATION=off FOYER_RATE_REGISTRATION=off FOYER_RATE_LOGIN=off \
FOYER_RATE_GUEST_LINK_REDEMPTION=off FOYER_RATE_GUEST_EVENTS=off FOYER_RATE_GUEST_STATE_EVENTS=off \
FOYER_PASSWORD_MEMORY_KIB=1024 FOYER_PASSWORD_ITERATIONS=1 \
  "$tmp/foyer" serve --listen "127.0.0.1:$port" --data-dir "$tmp/data" --server-name localhost --registration open \
  >"$tmp/server.log" 2>&1 &
server_pid=$!

# Wait (at most 30 s) for the server to answer.
ready=""
for _ in $(seq 1 150); do
  if node -e 'fetch(process.argv[1]+"/_matrix/client/versions").then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$url" 2>/dev/null; then
    ready=1
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "browser: foyer did not start; its log:" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi
echo "browser: foyer serving on $url"

artifacts="${FOYER_ARTIFACTS:-$root/test-artifacts}/browser"
mkdir -p "$artifacts"
status=0
(cd "$here" && FOYER_URL="$url" FOYER_CHROMIUM="$chromium" BROWSER_ARTIFACTS="$artifacts" \
  node --test --test-concurrency=1 --test-timeout=90000 ./*.test.mjs) || status=$?
if [ "$status" -ne 0 ]; then
  echo "browser: tests failed; the last lines of foyer's log:" >&2
  tail -n 60 "$tmp/server.log" >&2
fi
exit "$status"
