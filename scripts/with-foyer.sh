#!/usr/bin/env bash
# Runs a command against a freshly built foyer: builds the binary, starts
# it on a free loopback port with a throwaway data directory, rate limits
# off and cheap password hashing, waits until it answers, runs the command
# with FOYER_URL set (and FOYER_BIN, the binary, for tests that start
# servers of their own), and always stops the server. On failure it prints the
# end of the server's log. Used by tests/e2e/run.sh and tests/browser/run.sh.
#
#   scripts/with-foyer.sh NAME COMMAND [ARGS...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
name="$1"; shift

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

echo "$name: building foyer"
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
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "$name: foyer did not start; its log:" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi
echo "$name: foyer serving on $url"

status=0
FOYER_BIN="$tmp/foyer" FOYER_URL="$url" "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "$name: tests failed; the last lines of foyer's log:" >&2
  tail -n 60 "$tmp/server.log" >&2
fi
exit "$status"
