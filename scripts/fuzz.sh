#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang-14 (-fsanitize=fuzzer,address,undefined) in
# build-fuzz/ and runs each for a bounded time from its seed corpus in fuzz/corpus/<target>/.
#   scripts/fuzz.sh                 every target, FUZZ_SECONDS each (default 40; cms_envelope 20,
#                                   so that the CI stage, build included, stays under 5 minutes)
#   scripts/fuzz.sh jwt key_format  only these
#   FUZZ_SECONDS=600 scripts/fuzz.sh http_request   a longer run
# New inputs go to build-fuzz/corpus/<target>/ (the seeds in the repo stay small); a crash
# leaves its reproducer in build-fuzz/artifacts/<target>/ and fails the script. Reproduce with
#   build-fuzz/fuzz_<target> build-fuzz/artifacts/<target>/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
targets=("$@")
((${#targets[@]})) || targets=(request_parsing key_format jwt http_request cms_envelope)
# Each target's share of a default run; FUZZ_SECONDS, when set, gives every target the same.
declare -A default_seconds=([cms_envelope]=20)
seconds_for() { echo "${FUZZ_SECONDS:-${default_seconds[$1]:-40}}"; }

command -v clang++-14 >/dev/null || { echo "fuzz.sh: clang++-14 is missing (scripts/install-deps.sh)" >&2; exit 1; }
cmake -S fuzz -B "$build_dir" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for t in "${targets[@]}"; do
  corpus=$build_dir/corpus/$t
  artifacts=$build_dir/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  seconds=$(seconds_for "$t")
  echo "=== fuzz $t (${seconds} s)"
  # Newly found inputs go to the first directory; the repo's seeds are only read.
  if ! "$build_dir/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=20000 -print_final_stats=1 -artifact_prefix="$artifacts/" \
      "$corpus" "$root/fuzz/corpus/$t" 2>"$build_dir/fuzz_$t.log"; then
    tail -n 60 "$build_dir/fuzz_$t.log" >&2
    failed+=("$t")
  else
    grep -E '^(stat::number_of_executed_units|stat::new_units_added)' "$build_dir/fuzz_$t.log" || true
  fi
done
if ((${#failed[@]})); then
  echo "fuzz.sh: FAILED: ${failed[*]} (reproducers in $build_dir/artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: ${targets[*]}: no crash in their bounded runs"
