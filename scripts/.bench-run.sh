#!/usr/bin/env bash
# The vault benchmark (docs/benchmarks.md): builds in release mode into build-release/, starts
# a fresh dev vault on loopback with the retrieval limits off, seeds devices, runs the standard
# scenarios and the machine-ceiling programs, prints one table and writes it as JSON.
#
#   scripts/bench.sh [--quick] [--out FILE] [--keep] [--bin DIR] [--postgres]
#
#   --quick   a reduced run (short scenarios, 100,000 devices for the large case, 2,000
#             rotation records): under two minutes once built
#   --out     where the JSON goes (default: bench-results.json in the repository root)
#   --keep    keep the run's directory (state, logs, per-run JSON) and say where it is
#   --postgres  also store and retrieve at 16 connections on PostgreSQL 15 (a server of the
#             run's own, started with initdb and pg_ctl), with one vaultd node and with two
#             (the connections split between them), beside the SQLite rows
#   --bin     take vaultd and vaultctl from DIR (another checkout's build-release/tools, built
#             with this script's flags) and everything else from this tree: an A/B run of two
#             commits with one load generator, one set of ceilings and one table
#
# Only loopback is ever driven. Timings are informative; no test depends on them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=full
out="$root/bench-results.json"
keep=0
bin=""
postgres=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) mode=quick ;;
    --out) out=$2; shift ;;
    --keep) keep=1 ;;
    --bin) bin=$(cd "$2" && pwd); shift ;;
    --postgres) postgres=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ $mode == quick ]]; then
  duration=4 warmup=1 ceiling_s=1 large=100000 rotate_records=2000 latency_requests=1000
else
  duration=15 warmup=2 ceiling_s=3 large=1000000 rotate_records=100000 latency_requests=5000
fi
devices=1000           # the measured devices, enrolled and stored through the API
owner=bench-user       # their owner, the JWT subject of the retrieve scenarios

say() { printf '== %s\n' "$*" >&2; }
commas() { sed -E ':a;s/([0-9])([0-9]{3})($|,)/\1,\2\3/;ta' <<<"$1"; }
elapsed_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }

# ---- build ----------------------------------------------------------------------------------
build=build-release
say "building (Release) into $build/ (log: $build/bench-build.log)"
mkdir -p "$build"
build_log="$build/bench-build.log"
# With the project's -Werror, as every build type: a Release-only warning fails the bench too.
# ESCROW_WERROR=ON is explicit because a build-release/ of an older bench.sh cached it OFF.
{
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DESCROW_BUILD_TESTS=OFF -DESCROW_WERROR=ON &&
    cmake --build "$build" -j"$(nproc)" --target vaultd vaultctl vault-notify loadgen &&
    if grep -Eq '^[[:space:]]*add_subdirectory\(bench\)' CMakeLists.txt; then
      cmake --build "$build" -j"$(nproc)" --target hsm_ceiling sqlite_ceiling tls_ceiling
    else  # not (yet) in the top-level CMakeLists.txt: build bench/ on its own
      cmake -S bench -B "$build/bench-standalone" -DCMAKE_BUILD_TYPE=Release &&
        cmake --build "$build/bench-standalone" -j"$(nproc)"
    fi
} >"$build_log" 2>&1 || { grep -E 'error|Error' "$build_log" | head -20 >&2; echo "bench.sh: build failed (see $build_log)" >&2; exit 1; }
if grep -Eq '^[[:space:]]*add_subdirectory\(bench\)' CMakeLists.txt; then
  ceilings_bin="$build/bench"
else
  ceilings_bin="$build/bench-standalone"
fi
vaultd="${bin:-$root/$build/tools}/vaultd"
vaultctl="${bin:-$root/$build/tools}/vaultctl"
[[ -x $vaultd && -x $vaultctl ]] || { echo "bench.sh: no vaultd and vaultctl in ${bin:-$build/tools}" >&2; exit 1; }
[[ -z $bin ]] || say "vaultd and vaultctl from $bin"
loadgen="$root/$build/bench/loadgen"

# ---- a fresh dev vault ------------------------------------------------------------------------
work=$(mktemp -d "$root/$build/bench-run.XXXXXX")
state="$work/state"
results="$work/results"
mkdir -p "$results/runs"
vaultd_pid=""
relay_pids=()
node2_pid=""
pg_dir=""
cleanup() {
  if [[ -n $node2_pid ]]; then kill -TERM "$node2_pid" 2>/dev/null || true; wait "$node2_pid" 2>/dev/null || true; fi
  if [[ -n $pg_dir ]]; then pg_as "$pg_bin/pg_ctl" -D "$pg_dir/data" -w -s -m immediate stop >/dev/null 2>&1 || true; fi
  if ((${#relay_pids[@]})); then kill -TERM "${relay_pids[@]}" 2>/dev/null || true; wait "${relay_pids[@]}" 2>/dev/null || true; fi
  if [[ -n $vaultd_pid ]]; then kill -TERM "$vaultd_pid" 2>/dev/null || true; wait "$vaultd_pid" 2>/dev/null || true; fi
  if [[ $keep == 1 ]]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

say "initialising a dev vault in $state"
"$vaultctl" init --state-dir "$state" --dev >"$work/init.log" 2>&1 ||
  { cat "$work/init.log" >&2; exit 1; }
# A benchmark is not a brute-force attack: switch the retrieval limits and the quota off.
conf="$state/vault.conf"
sed -i -E 's/^(retrieve_per_user|requests_per_client|requests_per_user|failed_auth)[[:space:]]*=.*/\1 = { count = 0, window_seconds = 60 }/' "$conf"
sed -i -E 's/^daily_quota[[:space:]]*=.*/daily_quota = 0/' "$conf"
for key in retrieve_per_user requests_per_client requests_per_user failed_auth; do
  # A limit the config does not have (an older vaultd's, with --bin) is not there to switch off.
  grep -q "^$key[[:space:]]*=" "$conf" || { [[ -n $bin ]] && continue; }
  grep -q "^$key = { count = 0," "$conf" || { echo "bench.sh: could not switch off $key in $conf" >&2; exit 1; }
done
grep -q '^daily_quota = 0$' "$conf" || { echo "bench.sh: could not set daily_quota = 0" >&2; exit 1; }
db=$(sed -nE "s/^path[[:space:]]*=[[:space:]]*['\"](.*)['\"].*/\1/p" "$conf" | head -1)
[[ -f $db ]] || { echo "bench.sh: database not found (path in $conf)" >&2; exit 1; }

starts=0
port=""
start_vaultd() {
  starts=$((starts + 1))
  local log="$work/vaultd-$starts.log"
  "$vaultd" --config "${1:-$conf}" --listen 127.0.0.1:0 2>"$log" &
  vaultd_pid=$!
  for _ in $(seq 1 600); do
    port=$(sed -nE 's/.*"event":"ready","listen":"127\.0\.0\.1:([0-9]+)".*/\1/p' "$log" | head -1)
    [[ -n $port ]] && return 0
    kill -0 "$vaultd_pid" 2>/dev/null || { echo "bench.sh: vaultd exited:" >&2; tail -5 "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "bench.sh: vaultd not ready after 60 s" >&2; exit 1
}
stop_vaultd() {
  kill -TERM "$vaultd_pid"
  wait "$vaultd_pid" || { echo "bench.sh: vaultd did not exit cleanly" >&2; exit 1; }
  vaultd_pid=""
}
sql_on() { local file=$1; shift; sqlite3 -cmd ".timeout 10000" "$file" "$@"; }
sql() { sql_on "$db" "$@"; }
# The database the running vaultd uses (the latency cases alternate between two).
cur_db=$db
# On PostgreSQL (cur_pg set) the same counts through psql.
cur_pg=""
audit_counts() {
  local q="SELECT coalesce(max(seq), 0), (SELECT count(*) FROM audit WHERE mac IS NOT NULL) FROM audit"
  if [[ -n $cur_pg ]]; then
    psql -X -q -A -t -h "$pg_dir" -U "$pg_user" -d vault -c "$q"
  else
    sql_on "$cur_db" "$q"
  fi
}

# ---- ceilings (before vaultd runs, so that they have the machine) -------------------------------
say "measuring ceilings: SoftHSMv2, SQLite, TLS"
"$ceilings_bin/hsm_ceiling" --seconds "$ceiling_s" >"$results/hsm.json"
"$ceilings_bin/sqlite_ceiling" --dir "$(dirname "$db")" --seconds "$ceiling_s" --group 32 >"$results/sqlite.json"
"$ceilings_bin/tls_ceiling" --seconds "$ceiling_s" --ca "$state/tls/ca.crt" \
  --server-cert "$state/tls/server.crt" --server-key "$state/tls/server.key" \
  --client-cert "$state/tls/clients/portal.crt" --client-key "$state/tls/clients/portal.key" \
  >"$results/tls.json"

# ---- scenarios ---------------------------------------------------------------------------------
start_vaultd
"$vaultctl" dev-token --state-dir "$state" --sub "$owner" --ttl 14400 >"$work/token"

run=0
# scenario NAME LABEL LOADGEN-ARGS...: one loadgen run, its JSON and its audit counts.
scenario() {
  local name=$1 label=$2; shift 2
  run=$((run + 1))
  local file; file=$(printf '%s/runs/%02d-%s' "$results" "$run" "$name")
  local before after
  # Server CPU per request is vaultd's; with two nodes it is left out (n/a).
  local pid_args=(--server-pid "$vaultd_pid")
  [[ -z $node2_pid ]] || pid_args=()
  before=$(audit_counts)
  say "scenario: $label"
  "$loadgen" run --target "127.0.0.1:$port" --state-dir "$state" --token-file "$work/token" \
    --devices "$devices" "${pid_args[@]}" --disk-path "$cur_db" \
    --label "$label" --json "$file.json" --quiet "$@" || return $?
  after=$(audit_counts)
  local r0=${before%%|*} m0=${before##*|} r1=${after%%|*} m1=${after##*|}
  printf '{"records": %d, "macs": %d}\n' $((r1 - r0)) $((m1 - m0)) >"$file.audit.json"
}

say "enrolling $devices devices through the API (enrol, check in, store)"
"$loadgen" run --target "127.0.0.1:$port" --state-dir "$state" --owner "$owner" --mix enroll \
  --connections 16 --requests "$devices" --devices "$devices" --quiet --json "$work/enroll.json"
enrolled=$(sql "SELECT count(*) FROM devices")
[[ $enrolled -ge $devices ]] || { echo "bench.sh: only $enrolled of $devices devices enrolled" >&2; exit 1; }

timed=(--duration "$duration" --warmup "$warmup")
# CMS stores (API.md "Apple MDM escrow"), each right after the plain stores at the same
# connections. Every request sends its own envelope, made by loadgen before its clock starts
# (the vault refuses an envelope again for another device, and stores nothing new for the same
# one); it stops and fails if they run out. A CMS store does a store's work and more, so twice
# the plain stores' rate over the warm-up and the run is enough.
cms_envelopes() {  # PLAIN-STORE-RUN-NAME
  local rate
  rate=$(grep -o '"requests_per_s":[^,}]*' "$results/runs/"*"-$1.json" | head -1 | cut -d: -f2)
  awk -v r="$rate" -v s="$((duration + warmup))" 'BEGIN { printf "%d", r * s * 2 + 1000 }'
}
cms_errors() {  # RUN-NAME: non-200 answers of a CMS run (its envelopes must all be accepted)
  grep -o '"errors":[0-9]*' "$results/runs/"*"-$1.json" | head -1 | cut -d: -f2
}
cms_scenario() {  # NAME CONNECTIONS PLAIN-STORE-RUN-NAME
  local rc=0
  scenario "$1" "CMS store (new versions)" --mix store_cms --connections "$2" "${timed[@]}" \
    --cms-envelopes "$(cms_envelopes "$3")" || rc=$?
  if [[ $rc != 0 ]]; then
    # A vaultd from before the CMS route (--bin) has no fleet certificate to encrypt to: the
    # row is left out of an A/B run. Of this tree's own vaultd, a failure fails the bench.
    [[ -n $bin ]] || exit "$rc"
    say "$1: left out (loadgen failed against the --bin vaultd; see above)"
    rm -f "$results/runs/"*"-$1.json" "$results/runs/"*"-$1.audit.json"
    return 0
  fi
  local errors; errors=$(cms_errors "$1")
  [[ $errors == 0 ]] || say "WARNING: $1 had $errors answers other than 200 (see its statuses)"
}
scenario store-c1 "store (new versions)" --mix store --connections 1 "${timed[@]}"
cms_scenario store-cms-c1 1 store-c1
scenario store-c16 "store (new versions)" --mix store --connections 16 "${timed[@]}"
cms_scenario store-cms-c16 16 store-c16
scenario retrieve-c1 "retrieve" --mix retrieve --connections 1 "${timed[@]}"
scenario retrieve-c16 "retrieve" --mix retrieve --connections 16 "${timed[@]}"

# ---- the events relay: the same two runs at 16 connections with vault-notify running ---------
# Every store and release writes its event in its own commit whether or not a relay runs (API.md
# "Events"); what the relay adds is its polling of GET /v1/events and the webhook POSTs, on the
# same two cores. The receiver checks every batch's signature (tests/support/webhook_receiver.py).
# A --bin vaultd from before events has no notifier client: the rows are left out.
relay_rows=0
[[ -z $bin && -f $state/notify.conf ]] && relay_rows=1
start_relay() {
  local port_file="$work/receiver.port"
  python3 "$root/tests/support/webhook_receiver.py" --secret-file "$state/notify.secret" \
    --record "$work/webhook.jsonl" --port-file "$port_file" 2>"$work/receiver.log" &
  relay_pids+=($!)
  for _ in $(seq 1 100); do [[ -s $port_file ]] && break; sleep 0.1; done
  [[ -s $port_file ]] || { echo "bench.sh: the webhook receiver did not start" >&2; exit 1; }
  sed -E -e "s|^vault_url = .*|vault_url = \"https://127.0.0.1:$port\"|" \
    -e "s|^webhook_url = .*|webhook_url = \"http://127.0.0.1:$(cat "$port_file")/events\"|" \
    -e "s|^poll_seconds = .*|poll_seconds = 1|" "$state/notify.conf" >"$work/notify.conf"
  "$root/$build/tools/vault-notify" --config "$work/notify.conf" 2>"$work/notify.log" &
  relay_pids+=($!)
  # The runs measure a relay keeping up, not one catching up with the runs before it.
  relay_caught_up "the backlog"
}
# Waits (up to 2 minutes) until the relay's cursor in the database reaches the newest event.
relay_caught_up() {
  local t0 last at
  t0=$(date +%s.%N)
  last=$(sql "SELECT coalesce(max(id), 0) FROM events")
  for _ in $(seq 1 1200); do
    at=$(sql "SELECT coalesce(max(after_id), 0) FROM notifier_cursors")
    [[ $at -ge $last ]] && break
    sleep 0.1
  done
  [[ $at -ge $last ]] || { echo "bench.sh: the relay stopped at event $at of $last" >&2; exit 1; }
  say "relay: $1 delivered through event $last in $(elapsed_since "$t0") s"
}
stop_relay() {
  relay_caught_up "the runs' events"
  kill -TERM "${relay_pids[@]}" 2>/dev/null || true
  wait "${relay_pids[@]}" 2>/dev/null || true
  relay_pids=()
  say "relay: $(grep -c '"ok": *true' "$work/webhook.jsonl" || true) signed batches accepted by the receiver"
}
if ((relay_rows)); then
  start_relay
  scenario store-c16-relay "store (new versions), relay running" --mix store --connections 16 "${timed[@]}"
  scenario retrieve-c16-relay "retrieve, relay running" --mix retrieve --connections 16 "${timed[@]}"
  stop_relay
fi
scenario mix-c16 "90% status + 10% store" --mix status=90,store=10 --connections 16 "${timed[@]}"

# ---- PostgreSQL: one node, then two (--postgres) ------------------------------------------
# A server of the run's own on a Unix socket in the run's directory, fsync and
# synchronous_commit on as in production (docs/operations.md §17); run as root, it runs as the
# unprivileged escrow-test user, as the tests do. The SQLite vault is copied into it with
# `vaultctl db migrate`, so both serve the same devices and versions.
pg_bin=/usr/lib/postgresql/15/bin
pg_as() { if [[ $(id -u) == 0 ]]; then runuser -u escrow-test -- "$@"; else "$@"; fi; }
if ((postgres)); then
  [[ -x $pg_bin/initdb ]] || { echo "bench.sh: --postgres needs postgresql-15 (scripts/install-deps.sh)" >&2; exit 1; }
  stop_vaultd
  pg_dir=$(mktemp -d /tmp/escrow-bench-pg.XXXXXX)  # short: a socket path has ~100 bytes
  pg_user=$(id -un)
  if [[ $(id -u) == 0 ]]; then chown escrow-test "$pg_dir"; pg_user=escrow-test; fi
  say "starting PostgreSQL 15 in $pg_dir"
  pg_as "$pg_bin/initdb" -D "$pg_dir/data" -A trust -E UTF8 --locale=C --no-instructions >/dev/null
  pg_as "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -s -o \
    "-c listen_addresses='' -c unix_socket_directories=$pg_dir -c fsync=on -c synchronous_commit=on -c max_connections=100" start
  psql -X -q -h "$pg_dir" -U "$pg_user" -d postgres -c "CREATE DATABASE vault" >/dev/null
  pg_url="postgresql://$pg_user@${pg_dir//\//%2F}/vault"
  "$vaultctl" db migrate --config "$conf" --to "$pg_url" >"$work/migrate.log" 2>&1 ||
    { cat "$work/migrate.log" >&2; exit 1; }
  pg_conf="$work/vault-postgres.conf"
  sed -E "s|^path[[:space:]]*=.*|url = '$pg_url'|" "$conf" >"$pg_conf"
  cur_pg=1
  start_vaultd "$pg_conf"
  scenario store-c16-pg1 "store (new versions), PostgreSQL, 1 node" --mix store --connections 16 "${timed[@]}"
  scenario retrieve-c16-pg1 "retrieve, PostgreSQL, 1 node" --mix retrieve --connections 16 "${timed[@]}"
  # The second node: the same config and token, a port of its own.
  node1_port=$port node1_pid=$vaultd_pid
  start_vaultd "$pg_conf"
  node2_pid=$vaultd_pid node2_port=$port
  vaultd_pid=$node1_pid port=$node1_port
  scenario store-c16-pg2 "store (new versions), PostgreSQL, 2 nodes" --mix store --connections 16 \
    --also-port "$node2_port" "${timed[@]}"
  scenario retrieve-c16-pg2 "retrieve, PostgreSQL, 2 nodes" --mix retrieve --connections 16 \
    --also-port "$node2_port" "${timed[@]}"
  kill -TERM "$node2_pid"; wait "$node2_pid" || true; node2_pid=""
  stop_vaultd
  cur_pg=""
  pg_as "$pg_bin/pg_ctl" -D "$pg_dir/data" -w -s -m fast stop
  rm -rf "$pg_dir"; pg_dir=""
  # No vaultd runs now: the latency cases start it on SQLite again, accepting its head (the
  # token's checkpoint moved on with the PostgreSQL runs).
fi
# Every latency case runs on a freshly started vaultd with the same warm-up, so that they
# differ only in the number of devices.
latency_warmup=200
# The cases alternate between two databases on one token. The token keeps the audit head it
# last saw, and vaultd refuses a database whose trail ends before it (an older copy), so each
# switch is accepted as an operator would accept a restored backup. A vaultctl from before
# the checkpoint (--bin) has no accept-head and needs none.
accepts_head=false
"$vaultctl" audit accept-head --help 2>/dev/null | grep -q -- '--yes' && accepts_head=true
latency_case() {  # NAME LABEL [CONF DB]: starts vaultd on CONF, runs the case, stops it
  local name=$1 label=$2
  cur_db=${4:-$db}
  if [[ $accepts_head == true ]]; then
    "$vaultctl" audit accept-head --config "${3:-$conf}" --yes >>"$work/accept-head.log" 2>&1 ||
      { echo "bench.sh: accept-head failed:" >&2; tail -3 "$work/accept-head.log" >&2; exit 1; }
  fi
  start_vaultd "${3:-$conf}"
  scenario "$name" "$label" --mix retrieve \
    --connections 1 --requests "$latency_requests" --warmup-requests "$latency_warmup"
  stop_vaultd
  cur_db=$db
}
[[ -z $vaultd_pid ]] || stop_vaultd
latency_case retrieve-1k "retrieve latency, $(commas "$devices") devices"

# ---- the large case: devices seeded in bulk while vaultd is stopped ---------------------------
# A copy of the 1,000-device database, and a config that points at it, so that the two cases
# can run again in turn: this VM's speed drifts by 10-15% over minutes, and one pair of runs
# would show the drift as growth (or hide growth).
small_db="$work/vault-${devices}.db"
small_conf="$work/vault-${devices}.conf"
sql "VACUUM INTO '$small_db'"
sed -E "s|^path[[:space:]]*=.*|path = '$small_db'|" "$conf" >"$small_conf"
grep -q "^path = '$small_db'\$" "$small_conf" || { echo "bench.sh: could not point $small_conf at $small_db" >&2; exit 1; }
seed=$((large - devices))
say "seeding $seed more devices directly into SQLite (one transaction)"
seed_start=$(date +%s.%N)
now_ms=$(($(date +%s) * 1000))
{ sql <<SQL
BEGIN IMMEDIATE;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $seed)
INSERT INTO devices (id, serial, name, platform, ownership, owner, encryption_enabled,
                     rotation_pending, last_checkin_ms, created_ms, updated_ms)
SELECT printf('seed-%07d', i), printf('SEED%07d', i), printf('seeded device %d', i), 'macos',
       'corporate', printf('seed-user-%d', i % 50000), 1, 0, $now_ms, $now_ms, $now_ms FROM n;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
} >/dev/null
say "seeded in $(elapsed_since "$seed_start") s; $(sql "SELECT count(*) FROM devices") devices"
# The seeding leaves a few hundred MB of dirty pages: written back while the case runs, they
# would slow its fsyncs (every retrieval commits an audit record) for reasons that have
# nothing to do with the number of devices.
sync
latency_case retrieve-large "retrieve latency, $(commas "$large") devices"
latency_case retrieve-1k-again "retrieve latency, $(commas "$devices") devices (again)" \
  "$small_conf" "$small_db"
latency_case retrieve-large-again "retrieve latency, $(commas "$large") devices (again)"
start_vaultd

# ---- master-key rotation ----------------------------------------------------------------------
# Probe on a throwaway vault first: the real command would rotate the keys it is asked about.
probe="$work/probe"
probe_out=$("$vaultctl" init --state-dir "$probe" --dev >/dev/null 2>&1 &&
            "$vaultctl" master-key rotate --config "$probe/vault.conf" 2>&1) || true
if grep -qi 'not implemented' <<<"$probe_out"; then
  say "master-key rotation: n/a (vaultctl master-key rotate not available)"
  printf '{"available": false, "records": %d, "reason": "n/a (vaultctl master-key rotate not available)"}\n' \
    "$rotate_records" >"$results/rotation.json"
else
  have=$(sql "SELECT count(*) FROM key_versions")
  if [[ $have -lt $rotate_records ]]; then
    say "storing $((rotate_records - have)) more key versions for the rotation"
    "$loadgen" run --target "127.0.0.1:$port" --state-dir "$state" --mix store --connections 16 \
      --requests $((rotate_records - have)) --devices "$devices" --quiet --json "$work/topup.json"
  fi
  stop_vaultd
  records=$(sql "SELECT count(*) FROM key_versions")
  say "master-key rotation of $records records"
  t0=$(date +%s.%N)
  ok=true
  "$vaultctl" master-key rotate --config "$conf" >"$work/rotate.log" 2>&1 || ok=false
  seconds=$(elapsed_since "$t0")
  printf '{"available": true, "ok": %s, "records": %d, "seconds": %s}\n' "$ok" "$records" "$seconds" \
    >"$results/rotation.json"
  [[ $ok == true ]] || { say "rotation failed:"; tail -3 "$work/rotate.log" >&2; }
fi
[[ -z $vaultd_pid ]] || stop_vaultd

# ---- the table --------------------------------------------------------------------------------
server_commit=$(git -C "${bin:-$root}" rev-parse --short HEAD 2>/dev/null || echo unknown)
printf '{"mode": "%s", "date": "%s", "commit": "%s", "server_commit": "%s", "cores": %d, "kernel": "%s", "devices": %d, "large_devices": %d, "scenario_seconds": %d}\n' \
  "$mode" "$(date -u +%FT%TZ)" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$server_commit" \
  "$(nproc)" "$(uname -r)" "$devices" "$large" "$duration" >"$results/meta.json"
"$loadgen" report --dir "$results" --json "$out"
say "wrote $out"
