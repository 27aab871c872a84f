#!/usr/bin/env bash
# Build the .deb and install + start it on a fresh Debian 12
# (scripts/fresh-debian.sh: a debootstrap chroot in PID and mount
# namespaces of its own). Needs root.
#
#   packaging/debian/try-in-fresh-debian.sh
#
# RRD_BINARY: package an already built rrd instead of a release build.
# Wall time measured here with RRD_BINARY=target/debug/rrd and the fresh
# Debian cached: 3 min, of which ~2 min is xz-compressing the 34 MB debug
# binary (a release binary is smaller) and ~45 s the fresh Debian (unpack
# 18 s, apt-get update + install ~20 s, rrd + BIRD up 2 s).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
deb=$("$repo/packaging/debian/build-deb.sh" "$out" | tail -1)
echo "built $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Depends\|Recommends\):/  \1:/p'
# fresh-debian.sh binds folders (read-only), outside its tmpfs /tmp and /run.
"$repo/scripts/fresh-debian.sh" --bind "$out:/srv/rrd-deb" -- \
  bash packaging/debian/smoke-inside.sh "/srv/rrd-deb/$(basename "$deb")"
