#!/usr/bin/env bash
# smoke.sh TARGET SEEDS WORKDIR: runs one libFuzzer target on its seed corpus for
# TLSFRONT_FUZZ_SECONDS (default 20), new inputs going to WORKDIR. Fails on any crash, leak,
# timeout or out-of-memory (libFuzzer exits non-zero and leaves a crash-*/leak-*/timeout-* file).
# The last line is "N passed, 0 failed" style for run-tests.sh's count, with the figures before it.
set -uo pipefail
target=$1 seeds=$2 work=$3
seconds=${TLSFRONT_FUZZ_SECONDS:-20}
mkdir -p "$work" "$work/artifacts"
log="$work/last-run.log"
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work" "$seeds" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
echo "$(basename "$target"): rc=$rc executions=${execs:-?} ${cov:-cov: ?} corpus=$(find "$work" -maxdepth 1 -type f | wc -l) seconds=$seconds"
if [ "$rc" -ne 0 ]; then
  tail -60 "$log"
  ls -l "$work/artifacts"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
