#!/usr/bin/env bash
# Scan a running tlsfront with testssl.sh and sslscan, and write the summary to docs/tls-scan.md.
#
#   scripts/tls-scan.sh [--out DIR] [--summary FILE] [BINARY]
#
# BINARY (or $TLSFRONT_BIN; default build/tlsfront) is started in a temporary directory of its own
# with certificates made here by openssl (an RSA-2048 cert plus an ECDSA P-256 alt_cert, as in the
# README's config) in front of a small Python IMAP-like backend (a `* OK` greeting, then echo),
# with two IMAP listeners:
#   default   the default TLS settings (min_version 1.2, the built-in cipher list)
#   tls13     [listener.tls] min_version = "1.3"
# Both scanners run against both listeners, offline: testssl.sh with --nodns none (no DNS lookups
# at all), no --phone-out (no CRL/OCSP fetches), --warnings batch, no stdin; sslscan with its
# defaults against 127.0.0.1.
#
#   --out DIR       keep the raw results there: testssl-LABEL.json/.csv/.log,
#                   sslscan-LABEL.xml/.txt, tlsfront.log, tlsfront.toml (default: a temporary
#                   directory, removed at the end)
#   --summary FILE  where the Markdown summary goes (default docs/tls-scan.md of this repository;
#                   "-" = stdout)
#
# Exit status: 0 when every policy check of scripts/tls_scan_report.py passes and tlsfront exited 0
# after SIGTERM without a sanitizer report; 1 otherwise; 2 for a bad command line or a missing
# tool. TLS_SCAN_TESTSSL_TIMEOUT / TLS_SCAN_SSLSCAN_TIMEOUT (seconds, default 600 / 120) bound
# each scanner run.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=""
SUMMARY="$REPO/docs/tls-scan.md"
BIN="${TLSFRONT_BIN:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --summary) SUMMARY=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    -*) echo "tls-scan: unknown option $1" >&2; exit 2 ;;
    *) BIN=$1; shift ;;
  esac
done
BIN=${BIN:-$REPO/build/tlsfront}
TESTSSL_TIMEOUT=${TLS_SCAN_TESTSSL_TIMEOUT:-600}
SSLSCAN_TIMEOUT=${TLS_SCAN_SSLSCAN_TIMEOUT:-120}

say() { printf '[tls-scan] %s\n' "$*" >&2; }
die() { printf '[tls-scan] ERROR: %s\n' "$*" >&2; exit 2; }

[ -x "$BIN" ] || die "tlsfront binary not found or not executable: $BIN"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
TESTSSL=$(command -v testssl || command -v testssl.sh || true)
[ -n "$TESTSSL" ] || die "testssl.sh not found (scripts/install-deps.sh installs the testssl.sh package)"
command -v sslscan >/dev/null || die "sslscan not found (scripts/install-deps.sh installs it)"
command -v openssl >/dev/null || die "openssl not found"

WORK=$(mktemp -d /tmp/tlsfront-scan-XXXXXX)
if [ -z "$OUT" ]; then
  OUT=$WORK/results
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TF_PID=""
BACKEND_PID=""
cleanup() {
  [ -n "$TF_PID" ] && kill -KILL "$TF_PID" 2>/dev/null || true
  [ -n "$BACKEND_PID" ] && kill -TERM "$BACKEND_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- certificates: a CA, an RSA-2048 leaf and an ECDSA P-256 leaf for mail.example.test ---------
NAME=mail.example.test
cd "$WORK"
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tlsfront Scan CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout ca.key -out ca.pem 2>/dev/null
# The CRL and OCSP URIs are never fetched (no --phone-out); like a real CA's, they are there so the
# revocation check judges tlsfront's setup rather than a test certificate without them.
printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
  "$NAME" > leaf.ext
printf 'crlDistributionPoints=URI:http://crl.example.test/scan-ca.crl\nauthorityInfoAccess=OCSP;URI:http://ocsp.example.test/\n' \
  >> leaf.ext
make_leaf() {  # stem, openssl genpkey algorithm options..., keyUsage
  local stem=$1 usage=$2; shift 2
  openssl genpkey "$@" -out "$stem.key" 2>/dev/null
  openssl req -new -key "$stem.key" -subj "/CN=$NAME" -out "$stem.csr" 2>/dev/null
  cp leaf.ext "$stem.ext"
  echo "keyUsage=critical,$usage" >> "$stem.ext"
  openssl x509 -req -in "$stem.csr" -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
    -days 90 -sha256 -extfile "$stem.ext" -out "$stem.pem" 2>/dev/null
}
make_leaf rsa digitalSignature,keyEncipherment -algorithm RSA -pkeyopt rsa_keygen_bits:2048
make_leaf ecdsa digitalSignature -algorithm EC -pkeyopt ec_paramgen_curve:P-256

# --- ports: tlsfront's from 20000-31000 (below the ephemeral range), free right now -------------
read -r PORT_DEFAULT PORT_TLS13 < <(python3 - <<'EOF'
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

# --- backend: an IMAP-like greeting (testssl.sh's service detection reads it), then echo ---------
python3 - "$WORK/backend.port" <<'EOF' &
import socket, socketserver, sys, threading

class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(60)
        try:
            self.request.sendall(b'* OK [CAPABILITY IMAP4rev1] IMAP4 tlsfront scan backend ready\r\n')
            while True:
                data = self.request.recv(65536)
                if not data:
                    break
                self.request.sendall(data)
        except OSError:
            pass

class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

srv = Server(('127.0.0.1', 0), Handler)
with open(sys.argv[1] + '.tmp', 'w') as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
srv.serve_forever()
EOF
BACKEND_PID=$!
for _ in $(seq 100); do [ -s backend.port ] && break; sleep 0.05; done
[ -s backend.port ] || die "the backend did not start"
BACKEND="127.0.0.1:$(cat backend.port)"

# --- tlsfront -----------------------------------------------------------------------------------
cat > tlsfront.toml <<EOF
# Written by scripts/tls-scan.sh: the default TLS settings, RSA + ECDSA certificates.
[server]
workers = 2
handshake_timeout = "10s"
shutdown_grace = "2s"

[tls]
cert = "$WORK/rsa.pem"
key = "$WORK/rsa.key"
alt_cert = "$WORK/ecdsa.pem"
alt_key = "$WORK/ecdsa.key"

[[listener]]
name = "default"
listen = "127.0.0.1:$PORT_DEFAULT"
protocol = "imap"
backend = "$BACKEND"

[[listener]]
name = "tls13"
listen = "127.0.0.1:$PORT_TLS13"
protocol = "imap"
backend = "$BACKEND"
[listener.tls]
min_version = "1.3"
EOF
cp tlsfront.toml "$OUT/tlsfront.toml"
"$BIN" -c tlsfront.toml </dev/null >"$OUT/tlsfront.log" 2>&1 &
TF_PID=$!
for _ in $(seq 300); do
  grep -q 'event=ready' "$OUT/tlsfront.log" && break
  kill -0 "$TF_PID" 2>/dev/null || break
  sleep 0.1
done
grep -q 'event=ready' "$OUT/tlsfront.log" || { cat "$OUT/tlsfront.log" >&2; die "tlsfront did not start"; }
say "tlsfront $("$BIN" --version 2>&1 | head -1) on 127.0.0.1:$PORT_DEFAULT (default) and :$PORT_TLS13 (min_version 1.3)"

# --- scans --------------------------------------------------------------------------------------
# testssl.sh: the default run (protocols, cipher categories, forward secrecy, server preference and
# defaults, every vulnerability check, client simulation) is what an auditor runs. The HTTP-only
# checks (headers, BREACH) are skipped by its own service detection (it reads the IMAP greeting).
# No DNS (--nodns none: the target is an IP address; rDNS and CAA lookups would leave the machine),
# no CRL or OCSP fetches (no --phone-out), no prompts (--warnings batch), plain text (--color 0);
# the test CA is trusted with --add-ca, so the chain-of-trust check judges the chain, not the CA.
scan_testssl() {  # label port
  local label=$1 port=$2 start=$SECONDS
  rm -f "$OUT/testssl-$label".{json,csv,log}
  set +e
  timeout -k 10 "$TESTSSL_TIMEOUT" "$TESTSSL" --quiet --warnings batch --nodns none --color 0 \
    --connect-timeout 10 --openssl-timeout 10 --add-ca "$WORK/ca.pem" \
    --jsonfile "$OUT/testssl-$label.json" --csvfile "$OUT/testssl-$label.csv" \
    --logfile "$OUT/testssl-$label.log" \
    "127.0.0.1:$port" </dev/null >/dev/null 2>"$OUT/testssl-$label.stderr"
  local rc=$?
  set -e
  echo "$rc $((SECONDS - start))" > "$OUT/testssl-$label.status"
  say "testssl.sh $label: exit $rc in $((SECONDS - start)) s"
}
scan_sslscan() {  # label port
  local label=$1 port=$2 start=$SECONDS
  set +e
  timeout -k 5 "$SSLSCAN_TIMEOUT" sslscan --no-colour --show-sigs --xml="$OUT/sslscan-$label.xml" \
    "127.0.0.1:$port" </dev/null >"$OUT/sslscan-$label.txt" 2>&1
  local rc=$?
  set -e
  echo "$rc $((SECONDS - start))" > "$OUT/sslscan-$label.status"
  say "sslscan $label: exit $rc in $((SECONDS - start)) s"
}
for target in "default $PORT_DEFAULT" "tls13 $PORT_TLS13"; do
  # shellcheck disable=SC2086
  scan_sslscan $target
  # shellcheck disable=SC2086
  scan_testssl $target
done

# --- stop tlsfront: SIGTERM, exit status, sanitizer report --------------------------------------
kill -TERM "$TF_PID"
TF_RC=""
for _ in $(seq 300); do
  if ! kill -0 "$TF_PID" 2>/dev/null; then
    set +e; wait "$TF_PID"; TF_RC=$?; set -e
    break
  fi
  sleep 0.1
done
if [ -z "$TF_RC" ]; then
  kill -KILL "$TF_PID" 2>/dev/null || true
  TF_RC=killed
fi
TF_PID=""
echo "$TF_RC" > "$OUT/tlsfront.exit"
say "tlsfront exited with $TF_RC"

# --- summary and policy checks ------------------------------------------------------------------
set +e
python3 "$REPO/scripts/tls_scan_report.py" --results "$OUT" --summary "$SUMMARY" \
  --binary "$BIN" --tool-testssl "$TESTSSL"
rc=$?
set -e
[ "$SUMMARY" = "-" ] || say "summary written to $SUMMARY"
exit $rc
