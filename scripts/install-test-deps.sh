#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: PostgreSQL's
# server binaries (the tests start throwaway servers from them). Safe to run
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
