#!/usr/bin/env bash
# scripts/build-deb.sh: builds the Debian packages tlsfront and tlsfront-tools from this checkout
# into build-deb/ (dpkg-buildpackage -b -us -uc), then runs lintian on them.
#
# The source tree is copied to build-deb/tlsfront-VERSION/ with packaging/debian/ as debian/ and
# the systemd units beside it, so the checkout itself stays clean. Needs the Build-Depends of
# packaging/debian/control plus dpkg-dev, debhelper and lintian (scripts/install-deps.sh has them).
# DEB_BUILD_OPTIONS=nocheck skips the unit tests of the package build.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
out=$REPO/build-deb
src=$out/tlsfront-${version%-*}
rm -rf "$out"
mkdir -p "$src"
# Everything git tracks (or the working tree's files when this is not a git checkout).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$src"
else
  tar --exclude='./build*' -cf - . | tar -xf - -C "$src"
fi
cp -r packaging/debian "$src/debian"
cp packaging/tlsfront.service packaging/tlsfront.socket "$src/debian/"
(cd "$src" && dpkg-buildpackage -b -us -uc)
ls -l "$out"/*.deb
echo "=== lintian"
if ! command -v lintian >/dev/null; then echo "lintian not installed: not checked"; exit 0; fi
lintian --info --display-info --pedantic "$out"/*.changes | tee "$out/lintian.txt" || true
errors=$(grep -c '^E: ' "$out/lintian.txt" || true)
echo "lintian: $errors errors, $(grep -c '^W: ' "$out/lintian.txt" || true) warnings"
[ "$errors" -eq 0 ]
