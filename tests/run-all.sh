#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test (including those that need real peers,
# which this script installs and which the tests start on 127.0.0.1 themselves), and a build of
# the benchmarks. Builds are cached in $HOME/.cache/feddns-target, outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/feddns-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "peers"
# The tests of this slice need no peer beyond loopback. Later provider tests add theirs here
# (moto for Route53, bind9 and knot for RFC 2136); dig is used by the demo.
if ! command -v dig >/dev/null; then
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq dnsutils >/dev/null
fi
dig -v 2>&1 | head -1

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "benchmarks build"
cargo bench --workspace --locked --no-run

step "cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked -- --include-ignored 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
