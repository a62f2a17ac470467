#!/usr/bin/env bash
# Real-client end-to-end tests: builds the foyer binary, starts it on a
# free loopback port with a throwaway data directory, runs the Node tests
# (node:test, matrix-js-sdk with its Rust crypto) against it, and stops it.
# Needs node and tests/e2e/node_modules (scripts/install-test-deps.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

command -v node >/dev/null 2>&1 || { echo "e2e: node is not installed (scripts/install-test-deps.sh installs it)" >&2; exit 1; }
if [ ! -d "$here/node_modules/matrix-js-sdk" ]; then
  echo "e2e: tests/e2e/node_modules is missing; run scripts/install-test-deps.sh" >&2
  exit 1
fi

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

echo "e2e: building foyer"
(cd "$root" && go build -o "$tmp/foyer" ./cmd/foyer)

port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
url="http://127.0.0.1:$port"
FOYER_RATE_GUEST_REGISTRATION=off FOYER_RATE_REGISTRATION=off FOYER_RATE_LOGIN=off \
  FOYER_RATE_GUEST_LINK_REDEMPTION=off FOYER_RATE_GUEST_EVENTS=off FOYER_RATE_GUEST_STATE_EVENTS=off \
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
  echo "e2e: foyer did not start; its log:" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi
echo "e2e: foyer serving on $url"

status=0
(cd "$here" && FOYER_URL="$url" node --test --test-concurrency=1 --test-timeout=150000 ./*.test.mjs) || status=$?
if [ "$status" -ne 0 ]; then
  echo "e2e: tests failed; the last lines of foyer's log:" >&2
  tail -n 60 "$tmp/server.log" >&2
fi
exit "$status"
