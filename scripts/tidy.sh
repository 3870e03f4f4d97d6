#!/usr/bin/env bash
# Runs clang-tidy 14 (the .clang-tidy of STYLE.md §9) over our own translation units, taken from
# a build's compile_commands.json. Fails on any finding in the WarningsAsErrors checks (printed
# in full) or any file clang-tidy cannot check; other warnings are only counted.
#   scripts/tidy.sh                    the whole tree (not fuzz/): base hsm storage vault auth api
#                                      tools bench tests
#   scripts/tidy.sh vault/policy.cc api/   these files and folders (a header: its includers)
#   scripts/tidy.sh --changed main     files changed since a git ref (committed or not)
#   scripts/tidy.sh --all-checks ...   every check of .clang-tidy, not only the error class
#   TIDY_BUILD_DIR=build-x scripts/tidy.sh   another build (default build/, configured if absent)
#   TIDY_JOBS=1 scripts/tidy.sh        fewer parallel clang-tidy processes (default: nproc)
# By default only the error-class checks run: the checks .clang-tidy enables for a folder that
# its WarningsAsErrors names (bugprone-*, cert-*, clang-analyzer-*,
# cppcoreguidelines-special-member-functions, less the ones it turns off), each with its
# configured options. They are what must stay at zero; the full set costs about twice the time
# for warnings nothing gates on.
# TIDY_LOG_DIR keeps each file's output (default: a temporary folder, removed at exit).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

error_class_only=1
changed_base=""
targets=()
while (($#)); do
  case "$1" in
    --all-checks) error_class_only=0; shift ;;
    --changed) [[ $# -ge 2 ]] || { echo "tidy.sh: --changed needs a git ref" >&2; exit 2; }
               changed_base=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "tidy.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

tidy=$(command -v clang-tidy-14 || true)
[[ -n $tidy ]] || { echo "tidy.sh: clang-tidy-14 is missing (scripts/install-deps.sh)" >&2; exit 1; }

build_dir=${TIDY_BUILD_DIR:-build}
if [[ ! -f $build_dir/compile_commands.json ]]; then
  # Configuring is enough: no sources are generated, so clang-tidy needs no build.
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" \
    -DESCROW_BUILD_TESTS=ON >/dev/null
fi
db=$build_dir/compile_commands.json

# Every translation unit of ours the build compiles, once each, relative to the root.
mapfile -t all_units < <(python3 - "$db" "$root" <<'EOF'
import json, os, sys
db, root = sys.argv[1], sys.argv[2]
seen = set()
for entry in json.load(open(db)):
    path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
    rel = os.path.relpath(path, root)
    top = rel.split(os.sep)[0]
    if rel.startswith("..") or top == "fuzz" or top.startswith("build") or rel in seen:
        continue
    seen.add(rel)
    print(rel)
EOF
)

# Files and folders to check: a .cc is itself, a folder is the units under it, a header is the
# units that include it (its findings are reported through them).
if [[ -n $changed_base ]]; then
  mapfile -t changed < <(git diff --name-only --diff-filter=d "$changed_base" -- '*.cc' '*.h'
                         git ls-files --others --exclude-standard -- '*.cc' '*.h')
  targets+=("${changed[@]}")
  if ((${#targets[@]} == 0)); then
    echo "tidy.sh: no C++ file changed since $changed_base"
    exit 0
  fi
fi
units=()
if ((${#targets[@]} == 0)); then
  units=("${all_units[@]}")
else
  declare -A chosen=()
  for t in "${targets[@]}"; do
    t=${t#./}; t=${t%/}
    if [[ -d $t ]]; then
      for u in "${all_units[@]}"; do [[ $u == "$t"/* ]] && chosen[$u]=1; done
    elif [[ $t == *.h ]]; then
      for u in "${all_units[@]}"; do grep -q "#include \"$t\"" "$u" && chosen[$u]=1; done
    else
      found=0
      for u in "${all_units[@]}"; do [[ $u == "$t" ]] && { chosen[$u]=1; found=1; }; done
      # fuzz/ and files outside the build are not ours to check here.
      ((found)) || echo "tidy.sh: skipping $t (not in $db)" >&2
    fi
  done
  units=("${!chosen[@]}")
fi
if ((${#units[@]} == 0)); then
  echo "tidy.sh: nothing to check"
  exit 0
fi

if [[ -n ${TIDY_LOG_DIR:-} ]]; then
  log_dir=$TIDY_LOG_DIR; rm -rf "$log_dir"; mkdir -p "$log_dir"
else
  log_dir=$(mktemp -d); trap 'rm -rf "$log_dir"' EXIT
fi
jobs=${TIDY_JOBS:-$(nproc)}

# The error class of each folder, as "--checks=-*,name,name,...", in <log_dir>/checks/<folder
# with / as __>: its enabled checks (nested .clang-tidy files included) that WarningsAsErrors
# names. Empty in --all-checks mode: .clang-tidy alone decides.
mkdir -p "$log_dir/checks"
for dir in $(printf '%s\n' "${units[@]}" | xargs -n1 dirname | sort -u); do
  checks_file=$log_dir/checks/$(echo "$dir" | sed "s|/|__|g")
  if ((error_class_only)); then
    # "--" gives clang-tidy empty compile flags: only the configuration is read here.
    errors_glob=$("$tidy" --dump-config "$dir/_.cc" -- | sed -n "s/^WarningsAsErrors: *'\(.*\)'$/\1/p")
    "$tidy" --list-checks "$dir/_.cc" -- | sed -n 's/^    //p' |
      python3 -c '
import fnmatch, sys
globs = [g.strip() for g in sys.argv[1].split(",") if g.strip()]
def errs(name):  # the last matching glob wins, as in clang-tidy; "-glob" excludes
    hit = False
    for g in globs:
        if fnmatch.fnmatchcase(name, g.lstrip("-")):
            hit = not g.startswith("-")
    return hit
names = [n for n in sys.stdin.read().split() if errs(n)]
print("--checks=-*," + ",".join(names) if names else "")' "$errors_glob" >"$checks_file"
    [[ -s $checks_file ]] || { echo "tidy.sh: no error-class check enabled in $dir" >&2; exit 1; }
  else
    : >"$checks_file"
  fi
done
if ((error_class_only)); then
  first=$(ls "$log_dir/checks" | head -1)
  echo "tidy.sh: ${#units[@]} files, $jobs jobs, error-class checks only" \
       "($(tr -cd ',' <"$log_dir/checks/$first" | wc -c) in ${first//__//}/)"
else
  echo "tidy.sh: ${#units[@]} files, $jobs jobs, every check of .clang-tidy"
fi

# One clang-tidy per unit; its output to <log_dir>/<unit with / as __>.log, its exit code to .rc.
export tidy db log_dir
printf '%s\n' "${units[@]}" | sort | xargs -P "$jobs" -I{} bash -c '
  out=$log_dir/$(echo "$1" | sed "s|/|__|g")
  checks=$(cat "$log_dir/checks/$(dirname "$1" | sed "s|/|__|g")")
  rc=0
  "$tidy" -p "$db" --quiet ${checks:+"$checks"} "$1" >"$out.log" 2>"$out.err" || rc=$?
  echo "$rc" >"$out.rc"
' _ {}

# A diagnostic starts with "path:line:col: warning|error: ... [check]" and runs until the next.
# Headers are reported once per including unit: count each diagnostic once.
summary=$(cat "$log_dir"/*.log | awk -v errors="$log_dir/errors.txt" '
  /^[^ ].*:[0-9]+:[0-9]+: (warning|error): / {
    keep = 0
    if (seen[$0]++) next
    if ($0 ~ /: error: /) { keep = 1; n_err++ } else { n_warn++; check = $0;
      sub(/.*\[/, "", check); sub(/\]$/, "", check); by_check[check]++ }
  }
  /^[^ ].*:[0-9]+:[0-9]+: note: / { if (keep) print > errors; next }
  keep { print > errors }
  END {
    printf "%d %d", n_err + 0, n_warn + 0
    for (c in by_check) printf " %s=%d", c, by_check[c]
  }')
read -r n_errors n_warnings by_check <<<"$summary"

failed_units=()
for u in "${units[@]}"; do
  out=$log_dir/$(echo "$u" | sed "s|/|__|g")
  [[ $(cat "$out.rc") == 0 ]] || failed_units+=("$u")
done

if ((n_errors > 0)); then
  cat "$log_dir/errors.txt"
fi
if ((n_warnings > 0)); then
  # The five most frequent checks give the flavour without thousands of lines.
  top=$(tr ' ' '\n' <<<"$by_check" | sort -t= -k2 -nr | head -5 | paste -sd' ')
  echo "tidy.sh: $n_warnings warnings outside the error class (not gating; most: $top)"
fi
if ((n_errors > 0 || ${#failed_units[@]} > 0)); then
  echo "tidy.sh: FAILED: $n_errors error-class findings; clang-tidy failed on ${#failed_units[@]} of ${#units[@]} files" >&2
  if ((n_errors == 0)); then
    # Nothing parsed, yet clang-tidy failed (a crash, or a file that does not compile): show why.
    for u in "${failed_units[@]}"; do
      out=$log_dir/$(echo "$u" | sed "s|/|__|g")
      echo "--- $u" >&2; tail -n 20 "$out.log" "$out.err" >&2
    done
  fi
  exit 1
fi
echo "tidy.sh: ${#units[@]} files, no error-class findings"
