#!/usr/bin/env bash
# Every test, twice: a normal build (build/) and an ASan+UBSan build (build-asan/); then each
# libFuzzer target for a bounded smoke time (build-fuzz/, clang).
#
#   scripts/run-tests.sh        # as root (the Dovecot fixtures run as a root daemon), or with sudo
#                                # for the package install; CI runs it through .ci/run
#
# Steps: install missing Debian packages (apt-get update only when something is missing), then for
# each build directory: meson setup (or reconfigure), meson compile, meson test --print-errorlogs.
# Pass/fail counts come from the unit tests' doctest summary and from run_all.py's last line.
# The very last line printed is "N passed, N failed" (totals over all suites and both builds); the
# exit status is non-zero when anything failed.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()

note() { printf '\n=== %s\n' "$*"; }

# count BUILD_DIR LABEL: read meson's testlog.json, add to the totals
count() {
  local dir=$1 label=$2 out
  if [ ! -f "$dir/meson-logs/testlog.json" ]; then
    SUMMARY+=("$label: no test log (meson test did not run): 1 failed")
    TOTAL_FAILED=$((TOTAL_FAILED + 1))
    return
  fi
  out=$(python3 - "$dir/meson-logs/testlog.json" "$label" <<'PY'
import json, re, sys
path, label = sys.argv[1], sys.argv[2]
passed = failed = 0
lines = []
with open(path, errors='replace') as f:
    for raw in f:
        raw = raw.strip()
        if not raw:
            continue
        t = json.loads(raw)
        name, result = t.get('name', '?'), t.get('result', '?')
        text = (t.get('stdout') or '') + '\n' + (t.get('stderr') or '')
        p = fl = None
        m = re.findall(r'\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed', text)
        if m:
            p, fl = int(m[-1][1]), int(m[-1][2])
        else:
            m = re.findall(r'(?m)^(\d+) passed, (\d+) failed\s*$', text)
            if m:
                p, fl = int(m[-1][0]), int(m[-1][1])
        if p is None:  # no summary: the suite counts as one test
            p, fl = (1, 0) if result in ('OK', 'EXPECTEDFAIL') else (0, 1)
            why = '' if fl == 0 else f' (no summary line; meson result {result})'
        elif result not in ('OK', 'EXPECTEDFAIL') and fl == 0:
            fl, why = 1, f' (+1: meson result {result} although the summary showed no failure)'
        else:
            why = ''
        passed += p
        failed += fl
        lines.append(f'{label} {name}: {p} passed, {fl} failed{why}')
for l in lines:
    print('SUITE ' + l)
print(f'TOTAL {passed} {failed}')
PY
)
  local line
  while IFS= read -r line; do
    case "$line" in
      SUITE\ *) SUMMARY+=("${line#SUITE }") ;;
      TOTAL\ *) set -- $line; TOTAL_PASSED=$((TOTAL_PASSED + $2)); TOTAL_FAILED=$((TOTAL_FAILED + $3)) ;;
    esac
  done <<<"$out"
}

# build_and_test DIR LABEL [meson setup options...]
build_and_test() {
  local dir=$1 label=$2
  shift 2
  note "$label: meson setup $dir $*"
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" || { fail_build "$label" "meson setup"; return; }
  else
    meson setup "$dir" "$@" || { fail_build "$label" "meson setup"; return; }
  fi
  note "$label: meson compile -C $dir"
  meson compile -C "$dir" || { fail_build "$label" "meson compile"; return; }
  note "$label: meson test -C $dir"
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --print-errorlogs
  count "$dir" "$label"
}

fail_build() {
  SUMMARY+=("$1: $2 failed: 1 failed")
  TOTAL_FAILED=$((TOTAL_FAILED + 1))
}

note "dependencies"
if ! "$REPO/scripts/install-deps.sh"; then
  SUMMARY+=("install-deps.sh failed: 1 failed")
  TOTAL_FAILED=$((TOTAL_FAILED + 1))
fi

build_and_test build "normal build"

# The sanitizer settings only for the sanitized build (meson test would set its own otherwise).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
build_and_test build-asan "asan+ubsan build" -Db_sanitize=address,undefined -Db_lundef=false

# The libFuzzer targets (clang, ASan+UBSan), each run on its seed corpus for a bounded time: only
# the fuzz targets are built there, and only the fuzz suite runs.
fuzz_smoke() {
  local dir=build-fuzz label="fuzz targets (clang, asan+ubsan)" targets
  note "$label: meson setup $dir"
  if [ ! -f "$dir/build.ninja" ]; then
    CC=clang-14 CXX=clang++-14 meson setup "$dir" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
      || { fail_build "$label" "meson setup"; return; }
  fi
  targets=$(sed -n "s/^  '\([^']*\)': 'fuzz_.*/tests\/fuzz\/fuzz_\1/p" tests/fuzz/meson.build)
  note "$label: ninja -C $dir" $targets
  ninja -C "$dir" $targets || { fail_build "$label" "build"; return; }
  note "$label: meson test -C $dir --suite fuzz"
  rm -f "$dir/meson-logs/testlog.json"
  TLSFRONT_FUZZ_SECONDS=${TLSFRONT_FUZZ_SECONDS:-30} meson test -C "$dir" --suite fuzz --no-rebuild --print-errorlogs
  count "$dir" "$label"
}
fuzz_smoke
unset ASAN_OPTIONS UBSAN_OPTIONS

note "summary"
printf '%s\n' "${SUMMARY[@]}"
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" -eq 0 ]
