#!/usr/bin/env bash
# Build the rrd image (localhost/rrd:<version>) with buildah, from a
# debootstrapped Debian 12 rootfs (minbase + bird2 + gobgpd +
# ca-certificates), cached in $RRD_CI_CACHE (default /var/cache/rrd-ci).
# No registry is involved. Needs root.
#
#   packaging/image/build.sh [OCI_ARCHIVE]
#
# RRD_BINARY: put an already built rrd in the image instead of a release
# build. With OCI_ARCHIVE, the image is also written there (oci-archive).
# Wall time measured here: debootstrap + image 180 s the first time, then
# 12-14 s (rootfs cached).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/packaging/image
cache=${RRD_CI_CACHE:-/var/cache/rrd-ci}
mirror=${RRD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
include=bird2,gobgpd,ca-certificates
rootfs_tar="$cache/bookworm-image-rootfs-$(echo "$include" | md5sum | cut -c1-8).tar.gz"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
tag=localhost/rrd:$version

for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { echo "image: $tool missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done

t0=$(date +%s)
mkdir -p "$cache"
if [ ! -s "$rootfs_tar" ]; then
  echo "image: debootstrap bookworm (minbase + $include), cached as $rootfs_tar"
  work=$(mktemp -d /var/tmp/rrd-image-rootfs.XXXXXX)
  debootstrap --variant=minbase --include="$include" bookworm "$work/root" "$mirror" \
    >"$work/log" 2>&1 || { tail -20 "$work/log"; rm -rf --one-file-system "$work"; exit 1; }
  # An image carries no package cache, lists or logs.
  rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* \
    "$work/root/var/log/"*.log
  tar -C "$work/root" -czf "$rootfs_tar.part" .
  mv "$rootfs_tar.part" "$rootfs_tar"
  rm -rf --one-file-system "$work"
fi

if [ -n "${RRD_BINARY:-}" ]; then
  bin=$RRD_BINARY
else
  (cd "$repo" && cargo build --release -p rrd --locked)
  bin=${CARGO_TARGET_DIR:-$repo/target}/release/rrd
fi

ctx=$(mktemp -d /var/tmp/rrd-image-ctx.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp "$here/Containerfile" "$ctx/"
ln "$rootfs_tar" "$ctx/rootfs.tar.gz" 2>/dev/null || cp "$rootfs_tar" "$ctx/rootfs.tar.gz"
install -m 0755 "$bin" "$ctx/rrd"
strip --strip-unneeded "$ctx/rrd" 2>/dev/null || true
previous=$(buildah images -q "$tag" 2>/dev/null || true)
buildah bud --isolation chroot --layers=false -f "$ctx/Containerfile" -t "$tag" "$ctx" >&2
# The image this tag named before is ours and now unnamed: remove it.
if [ -n "$previous" ] && [ "$previous" != "$(buildah images -q "$tag")" ]; then
  buildah rmi "$previous" >/dev/null 2>&1 || true
fi
if [ $# -ge 1 ]; then
  rm -f "$1"
  buildah push "$tag" "oci-archive:$1:$tag" >&2
fi
echo "image: built $tag in $(($(date +%s) - t0)) s" >&2
echo "$tag"
