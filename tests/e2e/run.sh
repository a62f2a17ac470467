#!/usr/bin/env bash
# Real-client end-to-end tests: the Node tests here (node:test,
# matrix-js-sdk with its Rust crypto) against a freshly built foyer, which
# scripts/with-foyer.sh starts and stops. Needs node and
# tests/e2e/node_modules (scripts/install-test-deps.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

command -v node >/dev/null 2>&1 || { echo "e2e: node is not installed (scripts/install-test-deps.sh installs it)" >&2; exit 1; }
if [ ! -d "$here/node_modules/matrix-js-sdk" ]; then
  echo "e2e: tests/e2e/node_modules is missing; run scripts/install-test-deps.sh" >&2
  exit 1
fi
cd "$here"
exec "$here/../../scripts/with-foyer.sh" e2e node --test --test-concurrency=1 --test-timeout=150000 ./*.test.mjs
