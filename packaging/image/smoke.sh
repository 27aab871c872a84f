#!/usr/bin/env bash
# Build the image and run it for real as the route reflector of a namespace
# lab: the mounted image chrooted in the RR's namespace with the image's
# entrypoint, drop-in mode (IP, ETCD_ENDPOINTS), the seed's keys in a real
# etcd, three BIRD 1.6 clients that must learn each other's routes
# (tests/image_smoke). Needs root and scripts/install-deps.sh.
#
#   packaging/image/smoke.sh
#
# RRD_BINARY: put an already built rrd in the image (CI: target/debug/rrd,
# already built by the suite). Wall time measured here with a cached rootfs:
# 27 s (image 12 s, lab test 13 s) when the test binary is built, ~2.5 min
# when it must be compiled; add ~3 min for the first debootstrap.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
tag=$("$repo/packaging/image/build.sh" | tail -1)
ctr=$(buildah from --pull-never "$tag")
cleanup() {
  buildah umount "$ctr" >/dev/null 2>&1 || true
  buildah rm "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mnt=$(buildah mount "$ctr")
entrypoint=$(buildah inspect --type image "$tag" | python3 -c '
import json, sys
c = json.load(sys.stdin)["OCIv1"]["config"]
print(" ".join((c.get("Entrypoint") or []) + (c.get("Cmd") or [])))')
echo "image $tag mounted at $mnt; entrypoint: $entrypoint"
cd "$repo"
RRD_IMAGE_ROOTFS=$mnt RRD_IMAGE_ENTRYPOINT=$entrypoint \
  cargo nextest run -p rrd --test image_smoke --run-ignored only --no-capture
