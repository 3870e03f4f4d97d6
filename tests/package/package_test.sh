#!/usr/bin/env bash
# The Debian package's install test (CI stage "package"): installs the .deb, initialises a vault
# as docs/install.md says (SoftHSMv2, the token under the state directory), starts vaultd as
# its unit does (user escrow, the unit's ExecStart and limits; under systemd when PID 1 is
# systemd), stores and retrieves a key over mTLS, reloads the IdP keys with the unit's
# ExecReload signal, scores and verifies the installed units, then removes (state and config
# stay) and purges (config gone, database, token and PIN stay). Prints each step's time.
#   tests/package/package_test.sh [DEB]      default: the newest dist/escrow-vault_*.deb
# Needs root, and a machine without an escrow vault of its own: it refuses otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
here=$repo/tests/package

if [[ $(id -u) -ne 0 ]]; then
  echo "package_test: skipped: needs root (it installs, starts, removes and purges the" \
       "package); run it as root on a disposable machine, as CI does" >&2
  exit 77
fi
deb=${1:-$(ls -t "$repo"/dist/escrow-vault_*.deb 2>/dev/null | head -1)}
[[ -f $deb ]] || { echo "package_test: no .deb (run scripts/package.sh)" >&2; exit 1; }
conf_dir=/etc/escrow-vault
state=/var/lib/escrow-vault
units=(vaultd portald vault-notify)
if dpkg-query -W -f='${Status}' escrow-vault 2>/dev/null | grep -q 'ok installed' ||
   [[ -e $conf_dir/vault.conf || -e $state/vault.db ]]; then
  echo "package_test: refused: escrow-vault is installed or initialised here; this test" \
       "would replace and then purge it" >&2
  exit 1
fi

# ---- clean-up: only what this test created ----------------------------------------------------
user_existed=false; id escrow >/dev/null 2>&1 && user_existed=true
state_existed=false; [[ -e $state ]] && state_existed=true
work=$(mktemp -d)
vaultd_pid=""
cleanup() {
  [[ -z $vaultd_pid ]] || kill "$vaultd_pid" 2>/dev/null || true
  if [[ -d /run/systemd/system ]]; then systemctl stop vaultd.service 2>/dev/null || true; fi
  if dpkg-query -W -f='${Status}' escrow-vault 2>/dev/null | grep -q 'installed'; then
    ESCROW_VAULT_PURGE_STATE=yes dpkg -P escrow-vault >/dev/null 2>&1 || true
  fi
  [[ $state_existed == true ]] || rm -rf "$state"
  [[ $user_existed == true ]] || { userdel escrow 2>/dev/null || true; groupdel escrow 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

start=$SECONDS
last=$SECONDS
step() { echo "--- $* (previous step $((SECONDS - last)) s)"; last=$SECONDS; }
fail() { echo "package_test: FAILED: $*" >&2; exit 1; }
check() { local what=$1; shift; "$@" || fail "$what"; echo "ok: $what"; }
owner_mode() { stat -c '%U:%G %a' "$1"; }

# ---- install ----------------------------------------------------------------------------------
step "install $(basename "$deb")"
missing=()
for dep in $(dpkg-deb -f "$deb" Pre-Depends Depends | sed 's/^[A-Za-z-]*: //' | tr ',' '\n' |
             sed 's/|.*//; s/(.*)//; s/[[:space:]]//g'); do
  dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q 'ok installed' || missing+=("$dep")
done
if ((${#missing[@]} > 0)); then
  echo "installing the package's dependencies: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
dpkg -i "$deb" >/dev/null
check "the escrow user and group exist" id escrow
check "the state dir is escrow's, 0700" test "$(owner_mode $state)" = "escrow:escrow 700"
check "the config dir is root:escrow 0750" test "$(owner_mode $conf_dir)" = "root:escrow 750"
check "portal.conf points at the installed pages" \
  grep -q '^static_dir = "/usr/share/escrow-vault/portal"' $conf_dir/portal.conf
check "the pages are installed" test -f /usr/share/escrow-vault/portal/index.html

# ---- vaultctl init, as docs/install.md ---------------------------------------------------------
step "vaultctl init (SoftHSMv2, token in $state/tokens)"
export SOFTHSM2_CONF=$conf_dir/softhsm2.conf
runuser -u escrow -- sh -c "umask 077 && openssl rand -hex 16 | tr -d '\n' >$state/hsm/user.pin"
(umask 077 && openssl rand -hex 16 | tr -d '\n' >"$work/so.pin")
vaultctl init --config $conf_dir/vault.conf --module /usr/lib/softhsm/libsofthsm2.so \
  --token-label escrow --pin-file $state/hsm/user.pin --so-pin-file "$work/so.pin" \
  --db $state/vault.db >"$work/init.txt"
chown -R escrow:escrow $state
chgrp escrow $conf_dir/vault.conf && chmod 0640 $conf_dir/vault.conf
check "the transcript names the master key" grep -q 'escrow-master-v1' "$work/init.txt"

# ---- certificates, IdP, clients (docs/install.md) ---------------------------------------------
step "certificates, clients and the IdP key"
bash "$here/make_test_pki.sh" "$work" "$conf_dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i -e "s|^listen = .*|listen = \"127.0.0.1:$port\"|" \
       -e 's|^issuers = .*|issuers = ["https://idp.test.invalid"]|' $conf_dir/vault.conf
for client in mdm:mdm portal:frontend; do
  printf '\n[[clients]]\nname = "%s"\nfingerprint = "%s"\nrole = "%s"\n' "${client%%:*}" \
    "$(cat "$work/${client%%:*}.fp")" "${client##*:}" >>$conf_dir/vault.conf
done
runuser -u escrow -- vaultctl status --config $conf_dir/vault.conf >"$work/status.txt" ||
  fail "vaultctl status as escrow"
check "vaultctl status, run as escrow, shows the master key" grep -q 'escrow-master-v1' "$work/status.txt"

# ---- vaultd as its unit runs it -------------------------------------------------------------
step "start vaultd as vaultd.service does"
unit=/lib/systemd/system/vaultd.service
read -r -a exec_start <<<"$(sed -n 's/^ExecStart=//p' $unit)"
unit_user=$(sed -n 's/^User=//p' $unit)
log=$work/vaultd.log
if [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
  systemctl start vaultd.service
  vaultd_pid=$(systemctl show -p MainPID --value vaultd.service)
  logs() { journalctl -u vaultd.service -o cat --no-pager; }
else
  # What systemd would do: the unit's user, no new privileges, no capabilities, its limits
  # and umask, a clean environment, working directory /. A container without
  # CAP_SYS_RESOURCE cannot raise RLIMIT_MEMLOCK: vaultd then gets the hard limit (said below).
  memlock=$(sed -n 's/^LimitMEMLOCK=//p' $unit); [[ $memlock != infinity ]] || memlock=unlimited
  if ! (ulimit -l "$memlock") 2>/dev/null; then
    echo "note: this machine caps RLIMIT_MEMLOCK at $(ulimit -Hl) KiB (no CAP_SYS_RESOURCE);" \
         "vaultd runs with that instead of the unit's LimitMEMLOCK=$memlock"
    memlock=$(ulimit -Hl)
  fi
  core=$(sed -n 's/^LimitCORE=//p' $unit)
  umask=$(sed -n 's/^UMask=//p' $unit)
  (cd / && ulimit -l "$memlock" && ulimit -c "$core" && umask "$umask" &&
   exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin setpriv --reuid="$unit_user" \
     --regid="$unit_user" --init-groups --no-new-privs --inh-caps=-all --bounding-set=-all \
     "${exec_start[@]}") 2>"$log" &
  vaultd_pid=$!
  logs() { cat "$log"; }
fi
for _ in $(seq 300); do
  logs | grep -q '"event":"ready"' && break
  kill -0 "$vaultd_pid" 2>/dev/null || { logs >&2; fail "vaultd exited at start"; }
  sleep 0.1
done
logs | grep -q '"event":"ready"' || { logs >&2; fail "vaultd not ready after 30 s"; }
check "vaultd runs as $unit_user" test "$(ps -o user= -p "$vaultd_pid")" = "$unit_user"
logs | grep '"warning"' || true

# ---- a first store and retrieve, as docs/install.md --------------------------------------------
step "enrol, check in, store and retrieve over mTLS"
base=https://localhost:$port/v1
curl_as() {  # CLIENT ARGS...: prints the body, fails on a status other than 2xx
  local client=$1; shift
  curl -sS --fail-with-body --cacert $conf_dir/tls/client-ca.crt \
    --cert "$work/$client.crt" --key "$work/$client.key" "$@"
}
token() { python3 "$here/mint_token.py" --key "$work/idp.key" --iss https://idp.test.invalid \
            --aud escrow-vault "$@"; }
alice=$(token --sub alice)
curl_as mdm -X PUT "$base/devices/mac-1" -H 'Content-Type: application/json' \
  -d '{"serial":"C02XYZ","name":"Alice MacBook","platform":"macos","ownership":"corporate","owner":"alice","encryption_enabled":true}' >/dev/null
curl_as mdm -X POST "$base/devices/mac-1/checkin" >/dev/null
curl_as portal -X PUT "$base/devices/mac-1/recovery-key" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $alice" \
  -d '{"recovery_key":"ABCD-EFGH-IJKL-MNOP-QRST-UVWX","confirm_recovery_key":"abcdefghijklmnopqrstuvwx"}' >/dev/null
curl_as portal -X POST "$base/devices/mac-1/recovery-key/retrieve" \
  -H 'Content-Type: application/json' -H "Authorization: Bearer $alice" -d '{}' >"$work/retrieved.json"
check "the retrieved key is the stored one" grep -q '"recovery_key":"ABCD-EFGH-IJKL-MNOP-QRST-UVWX"' "$work/retrieved.json"

step "reload the IdP keys as ExecReload does"
check "the unit reloads with SIGHUP" grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' $unit
kill -HUP "$vaultd_pid"
reloaded=false
for _ in $(seq 100); do
  if logs | grep '"idp_keys_reloaded"' | grep -q '"sighup"'; then reloaded=true; break; fi
  sleep 0.1
done
check "vaultd reloaded the IdP keys on SIGHUP" test "$reloaded" = true

step "stop vaultd (SIGTERM drains)"
if [[ -d /run/systemd/system ]]; then
  systemctl stop vaultd.service
else
  kill -TERM "$vaultd_pid"
  rc=0; wait "$vaultd_pid" || rc=$?
  check "vaultd exits 0 after SIGTERM" test "$rc" = 0
fi
vaultd_pid=""

# ---- the units --------------------------------------------------------------------------------
step "systemd-analyze security and verify of the installed units"
for u in "${units[@]}"; do
  path=/lib/systemd/system/$u.service
  score=$(systemd-analyze security --offline=yes "$path" 2>/dev/null |
          sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
  echo "$u.service exposure: $score"
  check "$u.service scores 2.0 or lower" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
done
unit_paths=()
for u in "${units[@]}"; do unit_paths+=("/lib/systemd/system/$u.service"); done
check "systemd-analyze verify passes" systemd-analyze verify "${unit_paths[@]}"

# ---- remove and purge ---------------------------------------------------------------------------
step "dpkg -r: the programs go, config and state stay"
dpkg -r escrow-vault >/dev/null
check "vaultd is gone" test ! -e /usr/sbin/vaultd
check "the database stays" test -s $state/vault.db
check "the token store stays" test -n "$(ls -A $state/tokens)"
check "vault.conf stays" test -f $conf_dir/vault.conf
check "the state dir is still escrow's, 0700" test "$(owner_mode $state)" = "escrow:escrow 700"

step "dpkg -P: the config goes, database, token and PIN stay"
dpkg -P escrow-vault >"$work/purge.txt"
cat "$work/purge.txt"
check "/etc/escrow-vault is gone" test ! -e $conf_dir
check "the database stays" test -s $state/vault.db
check "the token store stays" test -n "$(ls -A $state/tokens)"
check "the PIN stays" test -s $state/hsm/user.pin
check "the escrow user stays" id escrow
echo "left after purge:"; (cd $state && find . -maxdepth 2 | sort | sed 's/^/  /')

step "done"
echo "package_test: passed in $((SECONDS - start)) s"
