#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test.
#   scripts/test.sh            Release build in build/ (what scripts/package.sh packages)
#   scripts/test.sh --asan     AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-plain}
scripts/install-deps.sh
case "$mode" in
  plain)
    BUILD_DIR=build BUILD_TYPE=Release scripts/build.sh -DESCROW_BUILD_TESTS=ON
    dir=build ;;
  --asan)
    BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DESCROW_BUILD_TESTS=ON -DESCROW_SANITIZE=address,undefined
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    dir=build-asan ;;
  *) echo "usage: scripts/test.sh [--asan]" >&2; exit 2 ;;
esac
cd "$dir"
ctest --output-on-failure -j"$(nproc)" --timeout 600
