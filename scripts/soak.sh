#!/usr/bin/env bash
# Soak: many short TLS sessions through one tlsfront worker; memory must stay flat and, under
# ASan, nothing may leak.
#
#   scripts/soak.sh BINARY [CONNECTIONS]        # CONNECTIONS default 200000
#
# tlsfront (BINARY, `workers = 1`, an RSA certificate with an ECDSA alt_cert made here by openssl)
# runs in front of `tlsfront-bench backend`; `tlsfront-bench` makes the connections in chunks of
# CHUNK (default 10000): half `handshake` (full handshake, PING/PONG, close_notify) and half
# `resume` (the same, offering the previous session's ticket); TLS 1.3 and TLS 1.2 chunks alternate
# (tlsfront-bench --tls 1.2 on even chunks). VmRSS of tlsfront is
# read after the first chunk (10,000 connections: pools and caches warmed) and at the end.
# tlsfront is then stopped with SIGTERM; its stderr (the log and ASan/LSan's report) is kept.
#
# Passes (exit 0) when every chunk completed with 0 errors, RSS at the end is within 5% of RSS after
# the first chunk, tlsfront exited 0, and the sanitizer report shows 0 leaks (and no other error).
# The last line is the result, key=value:
#   soak: connections=N full=N resumed=N resumed_share=F rss_first_chunk_kib=N rss_end_kib=N
#         growth_pct=F leaks=N leaked_bytes=N close_done=N close_tls12=N errors=N seconds=N
#         result=PASS|FAIL
#
# Environment: TLSFRONT_BENCH (default: build/tlsfront-bench of this repository or of BINARY's
# project, else the one next to BINARY), SOAK_CHUNK (default 10000), SOAK_CONCURRENCY (default 32), SOAK_KEEP_DIR=1 keeps the
# work directory (its path is printed). ASAN_OPTIONS / UBSAN_OPTIONS default to the test suite's
# (detect_leaks=1:abort_on_error=1, print_stacktrace=1:halt_on_error=1); SOAK_ASAN_EXTRA (default
# quarantine_size_mb=0:malloc_context_size=0, see below) is appended to ASAN_OPTIONS.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:-}
TOTAL=${2:-200000}
CHUNK=${SOAK_CHUNK:-10000}
CONCURRENCY=${SOAK_CONCURRENCY:-32}
if [ -z "$BIN" ] || [ "$BIN" = "-h" ] || [ "$BIN" = "--help" ]; then
  sed -n '2,24p' "$0"; exit 2
fi
[ -x "$BIN" ] || { echo "soak: $BIN is not an executable" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
BENCH=${TLSFRONT_BENCH:-}
if [ -z "$BENCH" ]; then  # the normal build's client: an ASan client would only slow the soak down
  for candidate in "$REPO/build/tlsfront-bench" "$(dirname "$(dirname "$BIN")")/build/tlsfront-bench" \
                   "$(dirname "$BIN")/tlsfront-bench"; do
    if [ -x "$candidate" ]; then BENCH=$candidate; break; fi
  done
fi
[ -x "$BENCH" ] || { echo "soak: tlsfront-bench not found ($BENCH); set TLSFRONT_BENCH" >&2; exit 2; }
case "$TOTAL" in ''|*[!0-9]*) echo "soak: CONNECTIONS must be a number" >&2; exit 2 ;; esac
[ "$TOTAL" -ge "$CHUNK" ] || CHUNK=$TOTAL
# Under ASan, RSS measures ASan's own bookkeeping as much as tlsfront unless two of its features are
# off: the quarantine (up to 256 MiB of freed chunks held back, filling over the first ~50,000
# connections: 482 MiB after 10,000, 586 MiB after 200,000) and the allocation stack depot (every
# malloc's stack is stored; unwinding through Debian's BoringSSL, built without frame pointers,
# gives ever new stacks: ~200 bytes more per connection, linearly). With both off RSS is flat
# (45 MiB, +1.6% over 100,000), as the normal build's is (8.5 MiB). LeakSanitizer still checks
# every allocation at exit (reports then carry no allocation stack: rerun with
# SOAK_ASAN_EXTRA= to get them, and ignore the RSS figure).
SOAK_ASAN_EXTRA=${SOAK_ASAN_EXTRA-quarantine_size_mb=0:malloc_context_size=0}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}${SOAK_ASAN_EXTRA:+:$SOAK_ASAN_EXTRA}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

say() { printf '[soak] %s\n' "$*" >&2; }

WORK=$(mktemp -d /tmp/tlsfront-soak-XXXXXX)
TF_PID=""
BACKEND_PID=""
cleanup() {
  [ -n "$TF_PID" ] && kill -KILL "$TF_PID" 2>/dev/null || true
  [ -n "$BACKEND_PID" ] && kill -TERM "$BACKEND_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "${SOAK_KEEP_DIR:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
cd "$WORK"

# --- certificates -------------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=tlsfront Soak CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
  -keyout ca.key -out ca.pem 2>/dev/null
printf 'subjectAltName=DNS:soak.test\nextendedKeyUsage=serverAuth\n' > leaf.ext
for kind in rsa ec; do
  if [ $kind = rsa ]; then opts=(-algorithm RSA -pkeyopt rsa_keygen_bits:2048); else opts=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256); fi
  openssl genpkey "${opts[@]}" -out $kind.key 2>/dev/null
  openssl req -new -key $kind.key -subj "/CN=soak.test" -out $kind.csr 2>/dev/null
  openssl x509 -req -in $kind.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" -days 30 \
    -extfile leaf.ext -out $kind.pem 2>/dev/null
done

read -r PORT BACKEND_PORT < <(python3 - <<'EOF'
import random, socket
ports = []
for port in random.Random().sample(range(20000, 31000), 200):
    s = socket.socket()
    try:
        s.bind(('127.0.0.1', port))
    except OSError:
        continue
    finally:
        s.close()
    ports.append(port)
    if len(ports) == 2:
        break
print(*ports)
EOF
)

"$BENCH" backend --listen "127.0.0.1:$BACKEND_PORT" --threads 1 </dev/null >backend.log 2>&1 &
BACKEND_PID=$!

cat > tlsfront.toml <<EOF
[server]
workers = 1
handshake_timeout = "10s"
shutdown_grace = "5s"

[tls]
cert = "$WORK/rsa.pem"
key = "$WORK/rsa.key"
alt_cert = "$WORK/ec.pem"
alt_key = "$WORK/ec.key"

[[listener]]
name = "soak"
listen = "127.0.0.1:$PORT"
protocol = "imap"
backend = "127.0.0.1:$BACKEND_PORT"
EOF
"$BIN" -c tlsfront.toml </dev/null >tlsfront.out 2>tlsfront.err &
TF_PID=$!
for _ in $(seq 300); do
  grep -q 'event=ready' tlsfront.err 2>/dev/null && break
  kill -0 "$TF_PID" 2>/dev/null || break
  sleep 0.1
done
grep -q 'event=ready' tlsfront.err || { cat tlsfront.err >&2; say "tlsfront did not start"; exit 1; }

if ldd "$BIN" 2>/dev/null | grep -q libasan; then say "ASan binary: ASAN_OPTIONS=$ASAN_OPTIONS"; fi

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$TF_PID/status"; }

# --- the connections ----------------------------------------------------------------------------
START=$SECONDS
done_count=0 full=0 resumed_offers=0 resumed=0 errors=0 chunk_no=0 rss_first=""
fail=()
run_bench() {  # scenario count [tlsfront-bench options] -> adds to the counters
  local scenario=$1 count=$2 json=bench-$chunk_no-$1.json
  shift 2
  local timeout_s=$((count / 20 + 120))   # at least 20 connections/s, or the chunk fails
  set +e
  "$BENCH" "$scenario" --connect "127.0.0.1:$PORT" --connections "$CONCURRENCY" --requests "$count" \
    --duration "$timeout_s" --timeout 20 --quiet --json "$json" "$@" </dev/null >/dev/null 2>bench.err
  local rc=$?
  set -e
  read -r completed errs share < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d.get("completed", 0), d.get("errors", 0), d.get("resumed_share", 0))' "$json" 2>/dev/null || echo "0 1 0")
  done_count=$((done_count + completed))
  errors=$((errors + errs))
  if [ "$scenario" = resume ]; then
    resumed_offers=$((resumed_offers + completed))
    resumed=$((resumed + $(python3 -c "print(round($share * $completed))")))
  else
    full=$((full + completed))
  fi
  if [ "$rc" -ne 0 ] || [ "$completed" -ne "$count" ] || [ "$errs" -ne 0 ]; then
    fail+=("chunk $chunk_no $scenario: exit $rc, $completed of $count completed, $errs errors ($(head -c 300 "$json" 2>/dev/null | tr '\n' ' '))")
  fi
}
while [ "$done_count" -lt "$TOTAL" ] && [ ${#fail[@]} -eq 0 ]; do
  chunk_no=$((chunk_no + 1))
  n=$CHUNK
  [ $((TOTAL - done_count)) -lt "$n" ] && n=$((TOTAL - done_count))
  half=$((n / 2))
  version=()
  [ $((chunk_no % 2)) -eq 0 ] && version=(--tls 1.2)   # every other chunk TLS 1.2 (its tickets too)
  run_bench handshake "$half" "${version[@]}"
  run_bench resume $((n - half)) "${version[@]}"
  kill -0 "$TF_PID" 2>/dev/null || { fail+=("tlsfront died during chunk $chunk_no"); break; }
  if [ -z "$rss_first" ]; then
    rss_first=$(rss_kib)
    say "after $done_count connections: VmRSS $rss_first KiB"
  fi
  if [ $((chunk_no % 5)) -eq 0 ]; then
    say "$done_count connections in $((SECONDS - START)) s, VmRSS $(rss_kib) KiB"
  fi
done
rss_end=$(rss_kib 2>/dev/null || echo 0)
ELAPSED=$((SECONDS - START))
say "$done_count connections in $ELAPSED s; VmRSS after the first chunk $rss_first KiB, at the end $rss_end KiB"

# --- stop: SIGTERM, exit status, sanitizer report -----------------------------------------------
kill -TERM "$TF_PID"
TF_RC=""
for _ in $(seq 1200); do   # LSan's leak check at exit can take a while
  if ! kill -0 "$TF_PID" 2>/dev/null; then
    set +e; wait "$TF_PID"; TF_RC=$?; set -e
    break
  fi
  sleep 0.1
done
if [ -z "$TF_RC" ]; then kill -KILL "$TF_PID" 2>/dev/null || true; TF_RC=killed; fi
TF_PID=""
[ "$TF_RC" = 0 ] || fail+=("tlsfront exited with $TF_RC after SIGTERM")

leaks=0 leaked_bytes=0
summary=$(grep -E '^SUMMARY: (AddressSanitizer|LeakSanitizer): [0-9]+ byte\(s\) leaked in [0-9]+ allocation' tlsfront.err || true)
if [ -n "$summary" ]; then
  leaked_bytes=$(sed -E 's/.*: ([0-9]+) byte.*/\1/' <<<"$summary")
  leaks=$(sed -E 's/.* in ([0-9]+) allocation.*/\1/' <<<"$summary")
  fail+=("LeakSanitizer: $summary")
fi
if grep -qE 'ERROR: AddressSanitizer|runtime error:|ERROR: UndefinedBehaviorSanitizer' tlsfront.err; then
  fail+=("sanitizer error: $(grep -m1 -E 'ERROR: AddressSanitizer|runtime error:|ERROR: UndefinedBehaviorSanitizer' tlsfront.err)")
fi
close_done=$(grep -c 'event=close .*reason=done' tlsfront.err || true)
close_tls12=$(grep -c 'event=close .*tls=TLSv1.2 ' tlsfront.err || true)
close_all=$(grep -c 'event=close ' tlsfront.err || true)
[ "$close_all" -eq "$close_done" ] || fail+=("$((close_all - close_done)) of $close_all close lines with a reason other than done: $(grep 'event=close ' tlsfront.err | grep -v 'reason=done' | head -2)")

growth=$(python3 -c "print(f'{(${rss_end:-0} - ${rss_first:-0}) * 100 / max(1, ${rss_first:-1}):.2f}')")
if python3 -c "import sys; sys.exit(0 if abs($growth) <= 5 else 1)"; then :; else
  fail+=("VmRSS grew $growth% (from $rss_first KiB after the first chunk to $rss_end KiB)")
fi
share=$(python3 -c "print(f'{$resumed / max(1, $resumed_offers):.3f}')")
for f in "${fail[@]}"; do say "FAIL: $f"; done
result=PASS
[ ${#fail[@]} -eq 0 ] || result=FAIL
echo "soak: connections=$done_count full=$full resumed=$resumed resumed_share=$share" \
  "rss_first_chunk_kib=$rss_first rss_end_kib=$rss_end growth_pct=$growth leaks=$leaks leaked_bytes=$leaked_bytes" \
  "close_done=$close_done close_tls12=$close_tls12 errors=$errors seconds=$ELAPSED result=$result"
[ "$result" = PASS ]
