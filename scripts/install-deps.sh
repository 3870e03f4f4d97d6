#!/usr/bin/env bash
# Installs every Debian 12 package the vault needs to build, run and test. Idempotent; run as
# root (or with sudo available). Nothing else is downloaded at build or run time.
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config clang-14 clang-tidy-14 libclang-rt-14-dev
  libssl-dev openssl libsqlite3-dev sqlite3
  libboost1.81-dev libboost-json1.81-dev
  catch2 libp11-kit-dev libtomlplusplus-dev libcli11-dev libspdlog-dev
  libgfshare-dev libseccomp-dev gdb
  softhsm2 opensc libnss3 curl python3 python3-yaml python3-jsonschema procps util-linux
  testssl.sh chromium chromium-driver python3-selenium python3-cryptography
  libpq-dev postgresql-15
  lintian adduser systemd man-db   # the package test: dpkg -i, systemd-analyze (its man: checks)
)

# The storage tests run PostgreSQL as this unprivileged user when they run as root (CI).
if [[ $(id -u) -eq 0 ]] && ! id escrow-test >/dev/null 2>&1; then
  useradd --system --no-create-home escrow-test
fi

# One dpkg-query for all of them: quick when everything is present.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)
missing=()
for p in "${packages[@]}"; do
  grep -qx "$p install ok installed" <<<"$installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
