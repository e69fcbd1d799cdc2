#!/usr/bin/env bash
# Queries per second of `feddns stub` against BIND9 serving the same answers as static CNAMEs,
# measured with dnsperf in one run, same query file and same settings for both.
#
#   bash benches/dnsperf.sh                 # 30 s per server
#   DURATION=10 SERVICES=1000 bash benches/dnsperf.sh
#
# The stub runs from examples/stub_bench.rs (the real server with a static state: SERVICES
# Services, every other one with a ready endpoint, so half the answers are local CNAMEs and half
# federated ones). That program also writes the dnsperf query file (one A query per Service) and
# the BIND zone myfed.svc.cluster.local with exactly the CNAMEs the stub answers. Everything binds
# 127.0.0.1; dnsperf shares the machine's cores with the server it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/feddns-target}"

DURATION="${DURATION:-30}"
SERVICES="${SERVICES:-10000}"
CLIENTS="${CLIENTS:-4}"
THREADS="${THREADS:-2}"
OUTSTANDING="${OUTSTANDING:-200}"
STUB_PORT="${STUB_PORT:-15354}"
BIND_PORT="${BIND_PORT:-15355}"

sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
missing=()
command -v dnsperf >/dev/null || missing+=(dnsperf)
command -v named >/dev/null || [ -x /usr/sbin/named ] || missing+=(bind9)
command -v dig >/dev/null || missing+=(dnsutils)
if [ "${#missing[@]}" -gt 0 ]; then
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NAMED="$(command -v named || echo /usr/sbin/named)"

cargo build --release --quiet --example stub_bench
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The stub.
"$CARGO_TARGET_DIR/release/examples/stub_bench" --listen "127.0.0.1:$STUB_PORT" --services "$SERVICES" \
  --queries "$work/queries.txt" --bind-zone "$work/myfed.zone" >"$work/stub.log" 2>&1 &
pids+=($!)

# BIND9, authoritative only, with the same CNAMEs.
cat >"$work/named.conf" <<EOF
options {
  directory "$work";
  pid-file "$work/named.pid";
  listen-on port $BIND_PORT { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  allow-transfer { none; };
  minimal-responses yes;
  dnssec-validation no;
  notify no;
};
controls { };
zone "myfed.svc.cluster.local" { type primary; file "$work/myfed.zone"; };
EOF

ready() { # server port name
  for _ in $(seq 1 300); do
    if dig +short +time=1 +tries=1 @127.0.0.1 -p "$2" "$3" A 2>/dev/null | grep -q .; then return 0; fi
    sleep 0.1
  done
  echo "$1 did not answer on port $2" >&2
  cat "$work/$1.log" >&2 || true
  exit 1
}
ready stub "$STUB_PORT" web-0.ns-0.myfed.svc.cluster.local
named_user=()
if [ "$(id -u)" -eq 0 ] && id bind >/dev/null 2>&1; then
  chown -R bind "$work"
  named_user=(-u bind)
fi
"$NAMED" -g -c "$work/named.conf" "${named_user[@]}" >"$work/bind.log" 2>&1 &
pids+=($!)
ready bind "$BIND_PORT" web-0.ns-0.myfed.svc.cluster.local

# Both give the same answers (a local and a federated one).
for name in web-0.ns-0.myfed.svc.cluster.local web-1.ns-1.myfed.svc.cluster.local; do
  a="$(dig +short @127.0.0.1 -p "$STUB_PORT" "$name" A)"
  b="$(dig +short @127.0.0.1 -p "$BIND_PORT" "$name" A)"
  echo "$name -> stub: $a, bind: $b"
  [ "$a" = "$b" ] || { echo "the servers answer differently" >&2; exit 1; }
done

settings=(-l "$DURATION" -c "$CLIENTS" -T "$THREADS" -q "$OUTSTANDING" -d "$work/queries.txt" -s 127.0.0.1)
echo "dnsperf ${settings[*]} -p <port>   ($SERVICES names, $(nproc) CPUs)"
run() { # label port
  dnsperf "${settings[@]}" -p "$2" >"$work/dnsperf-$1.txt" 2>&1
  local qps completed lost
  qps="$(awk '/Queries per second/ {print $4}' "$work/dnsperf-$1.txt")"
  completed="$(awk '/Queries completed/ {print $3}' "$work/dnsperf-$1.txt")"
  lost="$(awk '/Queries lost/ {print $3}' "$work/dnsperf-$1.txt")"
  printf '%-12s %12s queries/s  (completed %s, lost %s)\n' "$1" "$qps" "$completed" "$lost"
  grep -E 'Response codes|Average Latency' "$work/dnsperf-$1.txt" | sed 's/^/             /'
}
run feddns-stub "$STUB_PORT"
run bind9 "$BIND_PORT"
"$NAMED" -v
