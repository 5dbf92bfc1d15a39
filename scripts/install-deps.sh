#!/usr/bin/env bash
# Install the Debian packages needed to build tlsfront and to run its whole test suite.
# Idempotent: when everything is installed it does nothing (no apt-get update, no network).
#
#   scripts/install-deps.sh            # as root, or a user with sudo
#   scripts/install-deps.sh --list     # print the package list and exit
set -euo pipefail

PACKAGES=(
  # build
  android-libboringssl-dev liburing-dev libtomlplusplus-dev doctest-dev
  libsystemd-dev meson ninja-build pkg-config g++
  libssl-dev         # bench/openssl_bulk.cpp: bench/compare's client on OpenSSL 3, not BoringSSL
  scdoc              # the man pages (docs/man/*.scd -> roff)
  # tests and demo: real clients, real servers, process tools
  openssl curl python3 dovecot-imapd dovecot-pop3d gnutls-bin
  swaks libnet-ssleay-perl procps iproute2
  postfix bsdutils   # private Postfix instances of test_postfix.py; `script` shows postfix's errors
  faketime           # test_ocsp.py: an OCSP response that has already expired, made by openssl ocsp
  prometheus         # promtool check metrics on the admin endpoint's /metrics (test_admin.py)
  dpkg-dev debhelper fakeroot lintian   # scripts/build-deb.sh and test_debian_package.py
  mmdebstrap podman  # scripts/build-image.sh: the image's root file system and its OCI import
  python3-yaml       # test_kubernetes_manifest.py reads the manifest (when this Python lacks PyYAML)
  mandoc             # test_man_pages.py: mandoc -Tlint on the built man pages, -Tutf8 to read them
  clang-14 libfuzzer-14-dev   # the libFuzzer targets in tests/fuzz (-Dfuzz=true): Debian's clang ships libFuzzer
  testssl.sh sslscan # TLS scanners of scripts/tls-scan.sh and test_tls_scan.py (offline scans)
)

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: missing packages (${missing[*]}) and not root (no sudo either)" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
if [[ " ${missing[*]} " == *" postfix "* ]]; then
  # "No configuration": the postinst writes no /etc/postfix/main.cf, runs no newaliases and prints
  # no setup chatter (the tests run their own instances with `postfix -c DIR`). Installing postfix
  # removes exim4 or opensmtpd if present (they all provide mail-transport-agent).
  echo "postfix postfix/main_mailer_type select No configuration" | "${SUDO[@]}" debconf-set-selections
fi
"${SUDO[@]}" apt-get update -q
# --no-install-recommends keeps the set small; swaks needs libnet-ssleay-perl for TLS (listed above,
# because it is only a Recommends). The Dovecot and Postfix postinsts may try to start the services;
# on machines without an init system (containers, CI) that is refused or skipped, which is what we
# want: the tests and the demo start their own Dovecot and Postfix instances on high ports.
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
