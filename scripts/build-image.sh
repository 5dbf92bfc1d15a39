#!/usr/bin/env bash
# scripts/build-image.sh: the container image of packaging/container/Containerfile, built without
# any registry: a Debian 12 minbase root file system made by mmdebstrap from Debian's archive
# (what debian:12-slim is, with the same docs/man/locale exclusions), the tlsfront .deb from
# build-deb/ (scripts/build-deb.sh) installed into it, then imported with podman as
# localhost/tlsfront:VERSION with the Containerfile's USER, ENTRYPOINT, CMD, EXPOSE and VOLUME, and
# saved as an OCI archive. As root. Outputs in build-image/: rootfs.tar, tlsfront-oci.tar.
#   scripts/build-image.sh [--no-import]   # --no-import: only the root file system
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
deb=build-deb/tlsfront_${version}_amd64.deb
[ -f "$deb" ] || { echo "build-image: $deb missing: run scripts/build-deb.sh first" >&2; exit 1; }
out=build-image
rm -rf "$out"
mkdir -p "$out"
# debian:12-slim's dpkg filter: no documentation, man pages or translations (copyrights stay);
# merged /usr by the hook rather than the usrmerge package (which would pull in perl).
mmdebstrap --variant=minbase --mode=root --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --customize-hook="copy-in $deb /tmp" \
  --customize-hook="chroot \"\$1\" apt-get install -y --no-install-recommends /tmp/$(basename "$deb")" \
  --customize-hook='rm -f "$1"/tmp/*.deb' \
  bookworm "$out/rootfs.tar"
echo "root file system: $(du -h "$out/rootfs.tar" | cut -f1) ($out/rootfs.tar)"
[ "${1:-}" = --no-import ] && exit 0
image=localhost/tlsfront:${version%-*}
podman rmi -f "$image" >/dev/null 2>&1 || true
podman import \
  --change 'USER tlsfront' --change 'VOLUME /etc/tlsfront' \
  --change 'EXPOSE 993' --change 'EXPOSE 995' --change 'EXPOSE 465' --change 'EXPOSE 9100' \
  --change 'STOPSIGNAL SIGTERM' --change 'ENTRYPOINT ["/usr/sbin/tlsfront"]' \
  --change 'CMD ["-c", "/etc/tlsfront/tlsfront.toml"]' \
  "$out/rootfs.tar" "$image"
podman save --format oci-archive -o "$out/tlsfront-oci.tar" "$image"
echo "image $image: $(podman image inspect --format '{{.Size}}' "$image") bytes; OCI archive $out/tlsfront-oci.tar"
