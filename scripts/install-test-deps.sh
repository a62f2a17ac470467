#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: PostgreSQL's
# server binaries (the tests start throwaway servers from them), and Node.js
# with the packages of the real-client tests in tests/e2e. Safe to run
# again; it installs only what is missing.
set -euo pipefail

have_pg() {
  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

if ! have_pg; then
  echo "install-test-deps: installing PostgreSQL server binaries" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: need root (or sudo) to apt-get install postgresql" >&2
    exec sudo "$0" "$@"
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "install-test-deps: tests run as root need a postgres user to run PostgreSQL as" >&2
  useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
fi
command -v runuser >/dev/null 2>&1 || { echo "install-test-deps: runuser (util-linux) is missing" >&2; exit 1; }

# The real-client end-to-end tests (tests/e2e) run matrix-js-sdk on
# Node.js. Their packages are installed from the committed lock file, again
# only when node_modules is missing or the lock file changed.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-test-deps: installing Node.js and npm" >&2
  if [ "$(id -u)" -ne 0 ]; then
    exec sudo "$0" "$@"
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
e2e_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/e2e"
lock_sum="$(sha256sum "$e2e_dir/package-lock.json" | cut -d' ' -f1)"
stamp="$e2e_dir/node_modules/.package-lock.sha256"
if [ ! -d "$e2e_dir/node_modules" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "install-test-deps: npm ci --prefix tests/e2e" >&2
  npm ci --prefix "$e2e_dir" --no-audit --no-fund
  echo "$lock_sum" >"$stamp"
fi

# The browser tests of the join page (tests/browser) drive Debian's
# Chromium with playwright-core, which cannot download a browser of its
# own here; their packages come from their own committed lock file.
if [ ! -x /usr/bin/chromium ]; then
  echo "install-test-deps: installing Chromium" >&2
  if [ "$(id -u)" -ne 0 ]; then
    exec sudo "$0" "$@"
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
browser_lock_sum="$(sha256sum "$browser_dir/package-lock.json" | cut -d' ' -f1)"
browser_stamp="$browser_dir/node_modules/.package-lock.sha256"
if [ ! -d "$browser_dir/node_modules" ] || [ "$(cat "$browser_stamp" 2>/dev/null)" != "$browser_lock_sum" ]; then
  echo "install-test-deps: npm ci --prefix tests/browser" >&2
  npm ci --prefix "$browser_dir" --no-audit --no-fund
  echo "$browser_lock_sum" >"$browser_stamp"
fi
