#!/usr/bin/env bash
# The Debian package's install test (CI stage "package"): installs the .deb (and its missing
# Depends), initialises a vault as docs/install.md says (SoftHSMv2, the token under the state
# directory), starts vaultd as its unit does (user escrow, the unit's ExecStart, limits and
# umask; under systemd when PID 1 is systemd), stores and retrieves a key over mTLS, reloads the
# IdP keys with the unit's ExecReload signal, has portald serve the installed pages with the
# packaged portal.conf and vault-notify relay the events with the packaged notify.conf (each
# as its unit), scores and verifies the installed units, reinstalls (edits kept), then
# removes (state and config stay), purges (config gone; database, token and PIN stay) and
# purges with ESCROW_VAULT_PURGE_STATE=yes (state gone). Prints each step's time.
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
declare -A pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -d /run/systemd/system ]]; then systemctl stop "${units[@]}" 2>/dev/null || true; fi
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
# step NAME: a heading with the time so far and the previous step's time.
step() { echo "--- [+$((SECONDS - start)) s, previous step $((SECONDS - last)) s] $*"; last=$SECONDS; }
fail() { echo "package_test: FAILED: $*" >&2; exit 1; }
check() { local what=$1; shift; "$@" || fail "$what"; echo "ok: $what"; }
owner_mode() { stat -c '%U:%G %a' "$1"; }
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

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
port=$(free_port)
sed -i -e "s|^listen = .*|listen = \"127.0.0.1:$port\"|" \
       -e 's|^issuers = .*|issuers = ["https://idp.test.invalid"]|' $conf_dir/vault.conf
for client in mdm:mdm portal:frontend notifier:notifier; do
  printf '\n[[clients]]\nname = "%s"\nfingerprint = "%s"\nrole = "%s"\n' "${client%%:*}" \
    "$(cat "$work/${client%%:*}.fp")" "${client##*:}" >>$conf_dir/vault.conf
done
runuser -u escrow -- vaultctl status --config $conf_dir/vault.conf >"$work/status.txt" ||
  fail "vaultctl status as escrow"
check "vaultctl status, run as escrow, shows the master key" grep -q 'escrow-master-v1' "$work/status.txt"

# ---- vaultd as its unit runs it -------------------------------------------------------------
# start_unit, unit_logs, stop_unit: the services as their units run them.
# shellcheck source=tests/package/units.sh
source "$here/units.sh"

step "start vaultd as vaultd.service does"
start_unit vaultd
unit=/lib/systemd/system/vaultd.service

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
# shellcheck disable=SC2016  # $MAINPID is the unit's, not ours
check "the unit reloads with SIGHUP" grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' $unit
kill -HUP "${pids[vaultd]}"
reloaded=false
for _ in $(seq 100); do
  if unit_logs vaultd | grep '"idp_keys_reloaded"' | grep -q '"sighup"'; then reloaded=true; break; fi
  sleep 0.1
done
check "vaultd reloaded the IdP keys on SIGHUP" test "$reloaded" = true

step "portald with the packaged portal.conf serves the packaged pages"
# The files the conffile names, from the test PKI; a loopback port; the test IdP's endpoints
# given explicitly (no discovery), its JWKS served on loopback.
tls=$conf_dir/tls
install -d -o root -g escrow -m 0750 "$conf_dir/oidc"
install -o root -g escrow -m 0644 "$work/server.crt" "$tls/portal-server.crt"
install -o escrow -g escrow -m 0600 "$work/server.key" "$tls/portal-server.key"
(umask 077 && openssl rand -hex 16 >"$conf_dir/oidc/client-secret")
chown escrow:escrow "$conf_dir/oidc/client-secret"
python3 "$here/jwks_server.py" --pub "$conf_dir/idp/signing.pub" --cert "$work/server.crt" \
  --key "$work/server.key" --port-file "$work/jwks.port" &
pids[jwks]=$!
for _ in $(seq 100); do [[ -s $work/jwks.port ]] && break; sleep 0.1; done
idp=https://localhost:$(cat "$work/jwks.port")
portal_port=$(free_port)
sed -i -e "s|^listen = .*|listen = \"127.0.0.1:$portal_port\"|" \
       -e "s|^url = .*|url = \"https://localhost:$port\"|" \
       -e "s|^ca = \"\"|ca = \"$tls/ca.crt\"|" $conf_dir/portal.conf
printf 'authorization_endpoint = "%s/authorize"\ntoken_endpoint = "%s/token"\njwks_uri = "%s/jwks"\n' \
  "$idp" "$idp" "$idp" >>$conf_dir/portal.conf
start_unit portald
curl -sS --fail --cacert "$tls/ca.crt" "https://localhost:$portal_port/static/portal.js" \
  >"$work/portal.js"
check "portald serves the installed portal.js" \
  cmp -s "$work/portal.js" /usr/share/escrow-vault/portal/portal.js
stop_unit portald

step "vault-notify with the packaged notify.conf relays the events to a webhook"
# The secret and a webhook receiver on loopback (http: allowed to loopback only); the
# state_dir is the unit's StateDirectory=escrow-vault/notify, which systemd would create.
(umask 077 && openssl rand -hex 32 >$conf_dir/notify.secret)
chown escrow:escrow $conf_dir/notify.secret
python3 "$repo/tests/support/webhook_receiver.py" --secret-file "$conf_dir/notify.secret" \
  --record "$work/webhook.jsonl" --port-file "$work/webhook.port" &
pids[webhook]=$!
for _ in $(seq 100); do [[ -s $work/webhook.port ]] && break; sleep 0.1; done
sed -i -e "s|^vault_url = .*|vault_url = \"https://localhost:$port\"|" \
       -e "s|^webhook_url = .*|webhook_url = \"http://127.0.0.1:$(cat "$work/webhook.port")/events\"|" \
       $conf_dir/notify.conf
[[ -d /run/systemd/system ]] || install -d -o escrow -g escrow -m 0700 $state/notify
start_unit vault-notify '"msg":"relay started"'
delivered=false
for _ in $(seq 150); do
  if grep -qE '"ok": ?true' "$work/webhook.jsonl" 2>/dev/null; then delivered=true; break; fi
  sleep 0.1
done
[[ $delivered == true ]] || { unit_logs vault-notify >&2; cat "$work/webhook.jsonl" >&2 || true; }
check "vault-notify delivered a signed batch of events" test "$delivered" = true
stop_unit vault-notify

step "stop vaultd (SIGTERM drains)"
stop_unit vaultd

# ---- the units --------------------------------------------------------------------------------
step "systemd-analyze security and verify of the installed units"
for u in "${units[@]}"; do
  path=/lib/systemd/system/$u.service
  score=$(systemd-analyze security --offline=yes "$path" 2>/dev/null |
          sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
  echo "$u.service exposure: $score"
  check "$u.service scores 2.0 or lower" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
done
check "vaultd.service lets vaultd make every call its own seccomp list allows" \
  python3 "$here/syscall_filter_check.py" /lib/systemd/system/vaultd.service "$repo/vault/hardening.cc"
unit_paths=()
for u in "${units[@]}"; do unit_paths+=("/lib/systemd/system/$u.service"); done
check "systemd-analyze verify passes" systemd-analyze verify "${unit_paths[@]}"

# ---- upgrade in place ---------------------------------------------------------------------------
step "dpkg -i again (an upgrade): edited conffiles, vault.conf and state are kept"
sum_before=$(md5sum <$state/vault.db)
dpkg -i "$deb" >/dev/null
check "the edited portal.conf is kept" grep -q "^listen = \"127.0.0.1:$portal_port\"" $conf_dir/portal.conf
check "vault.conf is kept" grep -q "^listen = \"127.0.0.1:$port\"" $conf_dir/vault.conf
check "the database is untouched" test "$(md5sum <$state/vault.db)" = "$sum_before"
check "the state dir is still escrow's, 0700" test "$(owner_mode $state)" = "escrow:escrow 700"

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

step "dpkg -P with ESCROW_VAULT_PURGE_STATE=yes: the state goes too"
if [[ $state_existed == true ]]; then
  echo "skipped: $state existed before this test"
else
  dpkg -i "$deb" >/dev/null
  ESCROW_VAULT_PURGE_STATE=yes dpkg -P escrow-vault >/dev/null
  check "the state dir is gone when asked" test ! -e $state
fi

step "done"
echo "package_test: passed in $((SECONDS - start)) s"
