#!/usr/bin/env bash
# Runs SyTest (Matrix's Perl integration suite, not part of this repo)
# against a freshly built foyer.
#
#   scripts/sytest.sh /path/to/sytest                 # the guest suite
#   scripts/sytest.sh /path/to/sytest --client-server # every client-server file
#   scripts/sytest.sh /path/to/sytest tests/31sync/03joined.pl ...
#
# It uses the SyTest plugin and runner kept beside this repository in
# ../shared/tools/sytest (see its README for installing SyTest's Perl
# dependencies), and marks the tests listed in
# tests/sytest-expected-failures.txt as expected failures. Rate limits are
# switched off through FOYER_* variables, as SyTest assumes.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runner="${SYTEST_RUNNER:-$repo/../shared/tools/sytest/run-sytest.sh}"
[ $# -ge 1 ] || { sed -n '2,14p' "$0"; exit 2; }
sytest_dir="$1"; shift
[ -f "$sytest_dir/run-tests.pl" ] || { echo "sytest.sh: $sytest_dir is not a SyTest checkout" >&2; exit 2; }
[ -x "$runner" ] || { echo "sytest.sh: no SyTest runner at $runner (set SYTEST_RUNNER)" >&2; exit 2; }

files=()
if [ "${1:-}" = "--client-server" ]; then
  shift
  for d in 10apidoc 11register.pl 12login 13logout.pl 14account 21presence-events.pl 30rooms 31sync \
           32room-versions.pl 40presence.pl 41end-to-end-keys 42tags.pl 44account_data.pl 45openid.pl \
           46direct 48admin.pl 49ignore.pl 52user-directory; do
    if [ -d "$sytest_dir/tests/$d" ]; then
      for f in "$sytest_dir"/tests/$d/*.pl; do files+=("${f#"$sytest_dir"/}"); done
    elif [ -f "$sytest_dir/tests/$d" ]; then
      files+=("tests/$d")
    fi
  done
fi
files+=("$@")

bin_dir="$(mktemp -d)"
trap 'rm -rf "$bin_dir"' EXIT
(cd "$repo" && go build -o "$bin_dir/foyer" ./cmd/foyer)

# SyTest also assumes shared-secret registration with the secret
# "reg_secret", and uploads placeholder device keys with a fake
# self-signature, which foyer refuses unless told not to check.
# It tests Synapse's experimental self-destructing messages (MSC2228).
export FOYER_REGISTRATION_SHARED_SECRET=reg_secret FOYER_E2EE_VERIFY_KEY_SIGNATURES=false \
  FOYER_EXPERIMENTAL_SELF_DESTRUCTING_MESSAGES=true
export FOYER_RATE_GUEST_REGISTRATION=off FOYER_RATE_REGISTRATION=off FOYER_RATE_LOGIN=off \
  FOYER_RATE_GUEST_LINK_REDEMPTION=off FOYER_RATE_GUEST_EVENTS=off FOYER_RATE_GUEST_STATE_EVENTS=off \
  FOYER_RATE_GUEST_TO_DEVICE=off FOYER_RATE_GUEST_WRITES=off FOYER_RATE_GUEST_URL_PREVIEWS=off \
  FOYER_PASSWORD_MEMORY_KIB=1024 FOYER_PASSWORD_ITERATIONS=1
# SyTest's servers (the second homeserver, its fake federation servers)
# listen on loopback, with certificates from SyTest's own CA.
export FOYER_OUTBOUND_ALLOW_PRIVATE_ADDRESSES=true FOYER_OUTBOUND_TRUSTED_CA_FILE="$sytest_dir/keys/ca.crt"
# SyTest writes two application-service registrations into the first
# server's directory before starting it (tests/60app-services); both
# servers are pointed at them, which the second one never uses.
work_dir="${SYTEST_WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/sytest-work.XXXXXX")}"
export FOYER_APP_SERVICE_CONFIG_FILES="$work_dir/server-0/appserv-0.yaml,$work_dir/server-0/appserv-1.yaml"
SYTEST_DIR="$sytest_dir" "$runner" --foyer-binary "$bin_dir/foyer" \
  --blacklist "$repo/tests/sytest-expected-failures.txt" --work-dir "$work_dir" \
  ${files[@]+"${files[@]}"} ${SYTEST_ARGS:+-- $SYTEST_ARGS} && status=0 || status=$?
exit $status
