#!/usr/bin/env bash
# Queries per second of `feddns stub` completing its answers (CNAME + addresses, through a warm
# chain cache) against BIND9 serving the same answers from static zones, measured with dnsperf
# in one run, same query file and same settings for both.
#
#   bash benches/dnsperf.sh                 # 30 s per server
#   DURATION=10 SERVICES=1000 bash benches/dnsperf.sh
#
# The stub runs from examples/stub_bench.rs (the real server with a static state: SERVICES
# Services, every other one local with a ClusterIP, so half the answers are the local CNAME + A
# and half the federated CNAME + zone CNAME + region CNAME + A). That program also writes the
# dnsperf query file (one A query per Service) and BIND's zone: the root, holding the federation
# CNAMEs, the local A records and the federated chains, so that BIND (authoritative only, no
# recursion) follows every CNAME within it. The stub resolves the federated chains through BIND
# as its upstream, once, in a warm-up pass before the measured run, and answers them from its
# cache after that. Everything binds 127.0.0.1; dnsperf shares the machine's cores with the
# server it measures.
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

# The stub (its upstream is BIND, started next); it writes the query file and BIND's zone.
"$CARGO_TARGET_DIR/release/examples/stub_bench" --listen "127.0.0.1:$STUB_PORT" --services "$SERVICES" \
  --upstream "127.0.0.1:$BIND_PORT" --queries "$work/queries.txt" --zone "$work/root.zone" >"$work/stub.log" 2>&1 &
pids+=($!)

ready() { # server port name
  for _ in $(seq 1 300); do
    if dig +short +time=1 +tries=1 @127.0.0.1 -p "$2" "$3" A 2>/dev/null | grep -q '^[0-9]'; then return 0; fi
    sleep 0.1
  done
  echo "$1 did not answer $3 on port $2" >&2
  cat "$work/$1.log" >&2 || true
  exit 1
}
for _ in $(seq 1 300); do grep -qs '^stub listening' "$work/stub.log" && break; sleep 0.1; done

# BIND9, authoritative only, with the same answers as static zones.
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
zone "." { type primary; file "$work/root.zone"; };
EOF
named_user=()
if [ "$(id -u)" -eq 0 ] && id bind >/dev/null 2>&1; then
  chown -R bind "$work"
  named_user=(-u bind)
fi
"$NAMED" -g -c "$work/named.conf" "${named_user[@]}" >"$work/bind.log" 2>&1 &
pids+=($!)
ready bind "$BIND_PORT" web-1.ns-1.myfed.svc.cluster.local
ready stub "$STUB_PORT" web-1.ns-1.myfed.svc.cluster.local

# Both give the same answers (a local and a federated one), whole answer sections but TTLs.
for name in web-0.ns-0.myfed.svc.cluster.local web-1.ns-1.myfed.svc.cluster.local; do
  a="$(dig +noall +answer @127.0.0.1 -p "$STUB_PORT" "$name" A | awk '{print $1, $4, $5}')"
  b="$(dig +noall +answer @127.0.0.1 -p "$BIND_PORT" "$name" A | awk '{print $1, $4, $5}')"
  printf '%s\n  stub: %s\n  bind: %s\n' "$name" "$(echo $a)" "$(echo $b)"
  [ -n "$a" ] && [ "$a" = "$b" ] || { echo "the servers answer differently" >&2; exit 1; }
done

settings=(-c "$CLIENTS" -T "$THREADS" -q "$OUTSTANDING" -d "$work/queries.txt" -s 127.0.0.1)
# Warm-up: every name once, so that the stub's chain cache holds every federated chain.
dnsperf "${settings[@]}" -n 1 -p "$STUB_PORT" >"$work/warmup.txt" 2>&1
grep -E 'Queries (completed|lost)|Response codes' "$work/warmup.txt" | sed 's/^ */warm-up: /'

echo "dnsperf -l $DURATION ${settings[*]} -p <port>   ($SERVICES names, $(nproc) CPUs)"
declare -A qps
run() { # label port
  dnsperf -l "$DURATION" "${settings[@]}" -p "$2" >"$work/dnsperf-$1.txt" 2>&1
  local completed lost
  qps[$1]="$(awk '/Queries per second/ {print $4}' "$work/dnsperf-$1.txt")"
  completed="$(awk '/Queries completed/ {print $3}' "$work/dnsperf-$1.txt")"
  lost="$(awk '/Queries lost/ {print $3}' "$work/dnsperf-$1.txt")"
  printf '%-12s %12s queries/s  (completed %s, lost %s)\n' "$1" "${qps[$1]}" "$completed" "$lost"
  grep -E 'Response codes|Average Latency' "$work/dnsperf-$1.txt" | sed 's/^ */             /'
}
run feddns-stub "$STUB_PORT"
run bind9 "$BIND_PORT"
echo
printf '%-12s %12s\n' server 'queries/s'
printf '%-12s %12.0f\n' feddns-stub "${qps[feddns-stub]}" bind9 "${qps[bind9]}"
awk -v s="${qps[feddns-stub]}" -v b="${qps[bind9]}" 'BEGIN { printf "%-12s %11.2fx\n", "stub/bind9", s / b }'
"$NAMED" -v
