# shellcheck shell=bash disable=SC2154  # $here, $work: package_test.sh's
# Sourced by package_test.sh: starts, reads and stops the installed services the way their
# systemd units do: under systemd when PID 1 is systemd, else with run_as_unit.sh (the unit's
# user, ExecStart, limits and umask). Uses package_test.sh's check and fail, $here, $work
# (NAME.log holds a service's stderr) and the associative array pids (NAME -> PID).

# start_unit NAME [READY]: starts NAME.service as systemd would (under systemd when PID 1 is
# systemd; else tests/package/run_as_unit.sh) and waits for the log line READY (a fixed string,
# default: the "ready" event).
start_unit() {
  local name=$1 unit=/lib/systemd/system/$1.service pid ready=${2:-'"event":"ready"'}
  if [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    systemctl start "$name.service"
    pid=$(systemctl show -p MainPID --value "$name.service")
  else
    "$here/run_as_unit.sh" "$unit" 2>"$work/$name.log" &
    pid=$!
  fi
  pids[$name]=$pid
  for _ in $(seq 300); do
    unit_logs "$name" | grep -qF "$ready" && break
    kill -0 "$pid" 2>/dev/null || { unit_logs "$name" >&2; fail "$name exited at start"; }
    sleep 0.1
  done
  unit_logs "$name" | grep -qF "$ready" || { unit_logs "$name" >&2; fail "$name not ready"; }
  local user; user=$(sed -n 's/^User=//p' "$unit")
  check "$name runs as $user" test "$(ps -o user= -p "$pid")" = "$user"
  unit_logs "$name" | grep '"warning"' || true
}
# unit_logs NAME: what the service has logged since it was started.
unit_logs() {
  if [[ -d /run/systemd/system ]]; then  # this run's lines only, not an earlier start's
    journalctl -o cat --no-pager \
      _SYSTEMD_INVOCATION_ID="$(systemctl show -p InvocationID --value "$1.service")"
  else
    cat "$work/$1.log"
  fi
}
# stop_unit NAME: SIGTERM, as systemctl stop sends; the service must exit 0.
stop_unit() {
  local name=$1 pid=${pids[$1]} rc=0
  if [[ -d /run/systemd/system ]]; then
    systemctl stop "$name.service"
    rc=$(systemctl show -p ExecMainStatus --value "$name.service")
  else
    kill -TERM "$pid"
    wait "$pid" || rc=$?
  fi
  unset "pids[$name]"
  check "$name exits 0 after SIGTERM" test "$rc" = 0
}
