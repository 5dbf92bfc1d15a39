#!/usr/bin/env bash
# Makes a CA, a leaf it signed and real OCSP responses for the leaf with the `openssl` CLI, the way an
# operator's cron would get them (but answered locally from a hand-written index.txt: no network).
#
#   tests/integration/ocsp_fixture.sh DIR
#   TLSFRONT_OCSP_FIXTURE_DIR=DIR build/tests/tlsfront-unit -tc="*openssl ocsp*"
#
# DIR gets ca.pem/ca.key, leaf.pem/leaf.key, index.txt, resp.der (SHA-1 CertID, openssl's default)
# and resp-sha256.der (SHA-256 CertID), both valid for 7 days.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
mkdir -p "$1"
cd "$1"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=tlsfront OCSP test CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=mail.example.test" -keyout leaf.key -out leaf.csr 2>/dev/null
# High bit set: the DER serial carries a leading zero byte.
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -set_serial 0x8A1B2C3D4E5F60718293 -days 30 \
    -out leaf.pem 2>/dev/null
rm -f leaf.csr

# index.txt (the `openssl ca` database): status, expiry (UTCTime), revocation date, serial (hex), file, subject.
serial=$(openssl x509 -in leaf.pem -noout -serial | cut -d= -f2)
printf 'V\t351231235959Z\t\t%s\tunknown\t/CN=mail.example.test\n' "$serial" > index.txt

openssl ocsp -index index.txt -rsigner ca.pem -rkey ca.key -CA ca.pem -issuer ca.pem -cert leaf.pem \
    -respout resp.der -ndays 7 >/dev/null
# A digest option before -cert sets the CertID hash for that certificate.
openssl ocsp -index index.txt -rsigner ca.pem -rkey ca.key -CA ca.pem -issuer ca.pem -sha256 -cert leaf.pem \
    -respout resp-sha256.der -ndays 7 >/dev/null

echo "wrote $(pwd)/resp.der and resp-sha256.der for serial $serial"
