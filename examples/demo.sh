#!/usr/bin/env bash
# Runs the feddns demo: three member clusters from snapshot files, the zone example.com served by
# the embedded DNS server on 127.0.0.1:15353. Prints what dig answers at every level, then keeps
# feddns running so you can edit examples/demo/members/*.yaml and dig again. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/feddns-target}"

if ! command -v dig >/dev/null; then
  echo "demo: installing dig (Debian package dnsutils)"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq dnsutils >/dev/null
fi

cargo build --release --quiet --bin feddns
feddns="$CARGO_TARGET_DIR/release/feddns"
"$feddns" validate -c examples/demo/config.yaml

"$feddns" run -c examples/demo/config.yaml &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM

q() { dig @127.0.0.1 -p 15353 +noall +answer "$@"; }
global=nginx.default.myfed.svc.example.com
for _ in $(seq 1 100); do               # wait (up to 10 s) until the records are served
  [ -n "$(q "$global" A 2>/dev/null)" ] && break
  sleep 0.1
done

echo; echo "== global: every healthy shard (the US ELB re-resolved, the EU IP)"; q "$global" A
echo; echo "== EU region and its two zones: A records";   q nginx.default.myfed.svc.eu-west-1.example.com A
q nginx.default.myfed.svc.eu-west-1a.eu-west-1.example.com A; q nginx.default.myfed.svc.eu-west-1b.eu-west-1.example.com A
echo; echo "== US region and zone: CNAME to the ELB hostname (never frozen into A records)"
q nginx.default.myfed.svc.us-east-1.example.com CNAME; q nginx.default.myfed.svc.us-east-1a.us-east-1.example.com CNAME
echo; echo "== JP has no ready endpoints: zone -> region -> global"
q nginx.default.myfed.svc.ap-northeast-1a.ap-northeast-1.example.com A
echo; echo "feddns keeps running (pid $pid): edit examples/demo/members/jp.yaml (ready: true) and dig again:"
echo "  dig @127.0.0.1 -p 15353 nginx.default.myfed.svc.ap-northeast-1a.ap-northeast-1.example.com"
echo "Ctrl-C stops it."
wait $pid
