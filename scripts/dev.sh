#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, creates a development state in
# ./state (once), prints ready-to-paste curl commands, and runs vaultd in the foreground on
# 127.0.0.1:8443, with portald (the self-service pages) beside it on 127.0.0.1:8444. Ctrl-C stops
# both (SIGINT drains like SIGTERM). Builds in build-dev/ (tests off),
# apart from scripts/test.sh's build/ (tests on), so running one after the other rebuilds nothing.
#   scripts/dev.sh --notify   also runs vault-notify (state/notify.conf) beside vaultd, and a
#                             local webhook receiver on 127.0.0.1:9099 that checks each batch's
#                             signature and appends it to state/webhook.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
notify=0
for arg in "$@"; do
  case "$arg" in
    --notify) notify=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "dev.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
state=${STATE_DIR:-$PWD/state}
listen=${LISTEN:-127.0.0.1:8443}
scripts/install-deps.sh
BUILD_DIR=build-dev scripts/build.sh -DESCROW_BUILD_TESTS=OFF >/dev/null
bin=$PWD/build-dev/tools
if [[ ! -f $state/vault.conf ]]; then
  "$bin/vaultctl" init --state-dir "$state" --dev --listen "$listen"
fi
user_token=$("$bin/vaultctl" dev-token --state-dir "$state" --sub alice)
helpdesk_token=$("$bin/vaultctl" dev-token --state-dir "$state" --sub hd1 --roles helpdesk)
base="https://$listen/v1"
mdm="curl -sS --cacert $state/tls/ca.crt --cert $state/tls/clients/mdm.crt --key $state/tls/clients/mdm.key"
portal="curl -sS --cacert $state/tls/ca.crt --cert $state/tls/clients/portal.crt --key $state/tls/clients/portal.key"
cat <<EOT

Development vault on https://$listen (state in $state). In another terminal:

# 1. MDM enrols alice's Mac and it checks in
$mdm -X PUT $base/devices/mac-1 -H 'Content-Type: application/json' \\
  -d '{"serial":"C02XYZ","name":"Alice MacBook","platform":"macos","ownership":"corporate","owner":"alice","encryption_enabled":true}'
$mdm -X POST $base/devices/mac-1/checkin

# 2. Alice stores her FileVault key (typed twice)
$portal -X PUT $base/devices/mac-1/recovery-key -H 'Content-Type: application/json' \\
  -H "Authorization: Bearer $user_token" \\
  -d '{"recovery_key":"ABCD-EFGH-IJKL-MNOP-QRST-UVWX","confirm_recovery_key":"abcdefghijklmnopqrstuvwx"}'

# 3. Alice, locked out, gets it back (shown for five minutes; the Mac must rotate it)
$portal -X POST $base/devices/mac-1/recovery-key/retrieve -H 'Content-Type: application/json' \\
  -H "Authorization: Bearer $user_token" -d '{}'

# 4. IT support retrieves it with a reason
$portal -X POST $base/devices/mac-1/recovery-key/retrieve -H 'Content-Type: application/json' \\
  -H "Authorization: Bearer $helpdesk_token" -d '{"reason":"ticket 1234"}'

# More tokens: $bin/vaultctl dev-token --state-dir $state --sub USER [--roles helpdesk,admin,auditor]
EOT
# Children started beside vaultd (portald, and with --notify the relay and its receiver) go
# when it does (Ctrl-C reaches all; the trap covers vaultd failing to start).
children=()
trap 'kill "${children[@]}" 2>/dev/null; wait "${children[@]}" 2>/dev/null' EXIT

# The self-service pages (portald) beside the vault.
if [[ -f $state/portal.conf ]]; then
  "$PWD/build-dev/portal/portald" --config "$state/portal.conf" &
  children+=($!)
  portal_listen=$(sed -n 's/^listen = "\(.*\)".*/\1/p' "$state/portal.conf")
  echo "Self-service pages: https://$portal_listen/ (sign in as alice; the dev CA is $state/tls/ca.crt)"
else
  echo "No $state/portal.conf (a state from before portald): the pages are not started"
fi

if ((notify == 0)); then
  "$bin/vaultd" --config "$state/vault.conf" --listen "$listen"
  exit
fi

[[ -f $state/notify.conf ]] || {
  echo "dev.sh: $state/notify.conf is missing (a state made before vault-notify): remove $state" >&2
  exit 1
}
# The relay retries with backoff until vaultd is up, so the order does not matter.
python3 tests/support/webhook_receiver.py --secret-file "$state/notify.secret" \
  --record "$state/webhook.jsonl" --port 9099 &
children+=($!)
"$bin/vault-notify" --config "$state/notify.conf" &
children+=($!)
echo "vault-notify relays events to http://127.0.0.1:9099/events; batches in $state/webhook.jsonl"
"$bin/vaultd" --config "$state/vault.conf" --listen "$listen"
