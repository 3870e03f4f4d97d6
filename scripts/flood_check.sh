#!/usr/bin/env bash
# Measures the two floods of the first outside review against one build's vaultd
# (docs/benchmarks.md, "Floods"):
#   H1  vaultd's RSS growth over 5,000 anonymous requests with made-up 4 KiB methods;
#   H2  a retrieval's latency at 4 connections, alone and beside an anonymous health flood.
#
#   scripts/flood_check.sh [BUILD_DIR]    (default build/, which scripts/test.sh builds)
#
# For a side by side, build the commit before a change the same way in another folder and run
# this on both. Only loopback is driven; every loop is bounded. Nothing here is a test.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
vaultd=$build/tools/vaultd
vaultctl=$build/tools/vaultctl
loadgen=$build/bench/loadgen
# A build of a commit before the load generator moved to bench/ has it in tools/.
[[ -x $loadgen || ! -x $build/tools/loadgen ]] || loadgen=$build/tools/loadgen
for b in "$vaultd" "$vaultctl" "$loadgen"; do
  [[ -x $b ]] || { echo "flood_check.sh: $b is not built" >&2; exit 1; }
done
work=$(mktemp -d)
pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

state=$work/state
"$vaultctl" init --dev --state-dir "$state" >/dev/null
conf=$state/vault.conf
# The measurement is one user's retrievals: switch off the limits that would throttle it
# (a key an older build does not have is simply not there).
sed -i -E 's/^(retrieve_per_user|requests_per_client|requests_per_user)[[:space:]]*=.*/\1 = { count = 0, window_seconds = 60 }/' "$conf"
"$vaultd" --config "$conf" --listen 127.0.0.1:0 2>"$work/vaultd.log" &
pid=$!
port=
for _ in $(seq 300); do
  port=$(sed -nE 's/.*"event":"ready","listen":"127\.0\.0\.1:([0-9]+)".*/\1/p' "$work/vaultd.log")
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || { cat "$work/vaultd.log" >&2; exit 1; }
ca=$state/tls/ca.crt
flood() { python3 bench/anon_flood.py "$@" --port "$port" --ca "$ca"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }

flood methods --count 500 >/dev/null  # warm up
rss0=$(rss)
h1=$(flood methods --first 500 --count 5000)
rss1=$(rss)
echo "H1: RSS ${rss0} KiB -> ${rss1} KiB: +$((rss1 - rss0)) KiB over 5,000 anonymous requests ($h1)"

"$vaultctl" dev-token --state-dir "$state" --sub alice >"$work/token"
"$loadgen" run --target "127.0.0.1:$port" --state-dir "$state" --owner alice --mix enroll \
  --connections 4 --requests 100 --devices 100 --quiet --json "$work/enroll.json"
retrieve() {
  "$loadgen" run --target "127.0.0.1:$port" --state-dir "$state" --token-file "$work/token" \
    --devices 100 --mix retrieve --connections 4 --duration 10 --warmup 2 --quiet --json "$1"
}
latency() {
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency"]
print("%.0f/s, p50 %.2f ms, p99 %.2f ms, errors %d"
      % (r["requests_per_s"], l["p50_ms"], l["p99_ms"], r["errors"]))
PY
}
retrieve "$work/alone.json"
flood health --seconds 14 >"$work/health.json" &
fp=$!
sleep 1
retrieve "$work/flooded.json"
wait "$fp"
echo "H2: retrieve c4 alone:              $(latency "$work/alone.json")"
echo "H2: retrieve c4 beside health flood: $(latency "$work/flooded.json") ($(cat "$work/health.json"))"
