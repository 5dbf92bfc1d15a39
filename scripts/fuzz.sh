#!/usr/bin/env bash
# scripts/fuzz.sh TARGET SECONDS [libFuzzer options...]: a long fuzzing campaign on one target
# (config, proxy_header, client_hello, pre_tls_dialogue, backend_reply, or "all" one after the
# other), ASan+UBSan, in build-fuzz/ (set up with clang on first use). The corpus grows in
# build-fuzz/tests/fuzz/corpus-TARGET (kept between runs; the seeds are tests/fuzz/corpus/TARGET);
# crashes, leaks and timeouts land in build-fuzz/tests/fuzz/corpus-TARGET/artifacts. Prints the
# execution count, coverage and corpus size; exits non-zero on any finding.
#   JOBS=2 scripts/fuzz.sh client_hello 3600   # two processes (libFuzzer -fork)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
shift 2
all=(config proxy_header client_hello pre_tls_dialogue backend_reply)
if [ "$target" = all ]; then
  for t in "${all[@]}"; do "$0" "$t" "$seconds" "$@"; done
  exit 0
fi
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang-14 CXX=clang++-14 meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C build-fuzz "tests/fuzz/fuzz_$target"
work=build-fuzz/tests/fuzz/corpus-$target
mkdir -p "$work/artifacts"
log=$work/campaign.log
fork=()
[ "${JOBS:-1}" -gt 1 ] && fork=(-fork="$JOBS" -ignore_crashes=0)
set +e
"build-fuzz/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${fork[@]}" "$@" "$work" "tests/fuzz/corpus/$target" \
  2>&1 | tee "$log" | grep -E '^#[0-9]+ *(pulse|DONE|REDUCE|NEW)' | tail -n 3
rc=${PIPESTATUS[0]}
set -e
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
[ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
echo "fuzz_$target: rc=$rc executions=${execs:-?} $(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)" \
  "corpus=$(find "$work" -maxdepth 1 -type f | wc -l) seconds=$seconds" \
  "findings=$(find "$work/artifacts" -type f | wc -l)"
exit "$rc"
