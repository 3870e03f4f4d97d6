#!/usr/bin/env bash
# Runs a service the way its systemd unit would, for machines whose PID 1 is not systemd (the
# package test's containers): the unit's ExecStart as its User and Group, no new privileges,
# no capabilities, its LimitMEMLOCK, LimitCORE and UMask, a clean environment, working
# directory /. The process execs in place, so the caller's $! is its PID.
#   run_as_unit.sh UNIT_FILE         (as root; the service's stderr is this script's)
# A container without CAP_SYS_RESOURCE cannot raise RLIMIT_MEMLOCK: the service then gets the
# hard limit, and a note on stdout says so.
set -euo pipefail
unit=$1
value() { sed -n "s/^$1=//p" "$unit" | tail -1; }
read -r -a exec_start <<<"$(value ExecStart)"
user=$(value User)
group=$(value Group)
memlock=$(value LimitMEMLOCK)
if [[ -n $memlock ]]; then
  [[ $memlock != infinity ]] || memlock=unlimited
  if ! (ulimit -l "$memlock") 2>/dev/null; then
    echo "note: this machine caps RLIMIT_MEMLOCK at $(ulimit -Hl) KiB (no CAP_SYS_RESOURCE);" \
         "$(basename "$unit") runs with that instead of LimitMEMLOCK=$memlock"
    memlock=$(ulimit -Hl)
  fi
  ulimit -l "$memlock"
fi
core=$(value LimitCORE)
[[ -z $core ]] || ulimit -c "$core"
umask_value=$(value UMask)
[[ -z $umask_value ]] || umask "$umask_value"
cd /
exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin setpriv --reuid="$user" --regid="${group:-$user}" \
  --init-groups --no-new-privs --inh-caps=-all --bounding-set=-all "${exec_start[@]}"
