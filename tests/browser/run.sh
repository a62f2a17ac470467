#!/usr/bin/env bash
# Browser tests of the join page (/_foyer/join/..., /_foyer/room/...): the
# Node tests here (node:test; Debian's Chromium driven by playwright-core;
# matrix-js-sdk as the other client) against a freshly built foyer, which
# scripts/with-foyer.sh starts and stops. Screenshots go to
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

artifacts="${FOYER_ARTIFACTS:-$root/test-artifacts}/browser"
mkdir -p "$artifacts"
cd "$here"
FOYER_CHROMIUM="$chromium" BROWSER_ARTIFACTS="$artifacts" \
  exec "$root/scripts/with-foyer.sh" browser node --test --test-concurrency=1 --test-timeout=90000 ./*.test.mjs
