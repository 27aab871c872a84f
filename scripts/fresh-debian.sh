#!/usr/bin/env bash
# Run a command on a freshly installed Debian 12, as a new user's machine
# would be: a minimal bookworm (debootstrap) with only gcc, git, python3 and
# CA certificates, this machine's Rust toolchain bind-mounted read-only, and
# a clone of this repository's HEAD commit in /root/rrd.
#
#   scripts/fresh-debian.sh [--keep DIR] [--bind SRC:DST] -- COMMAND...
#
# COMMAND runs as root in /root/rrd, in a chroot whose root is a mount point
# (so `ip netns` works inside it), in PID and mount namespaces of its own:
# nothing inside can see or stop this machine's processes, every process it
# starts ends with it, and every mount goes away with it. The network is this
# machine's (apt and crates.io are reached as a new machine would reach them).
#
# The freshly debootstrapped system is cached as a tarball in $RRD_CI_CACHE
# (default /var/cache/rrd-ci) and made anew when missing; each run unpacks
# it into a new temporary folder, removed afterwards (--keep DIR keeps it in
# DIR instead). --bind SRC:DST mounts a host path
# read-only inside (e.g. a built package to install).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

keep=""
binds=()
while (($#)); do
  case "$1" in
    --keep) keep=$2; shift 2 ;;
    --bind) binds+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "fresh-debian: unknown argument $1 (usage: $0 [--keep DIR] [--bind SRC:DST] -- COMMAND...)" >&2; exit 2 ;;
  esac
done
(($#)) || { echo "fresh-debian: no command given" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "fresh-debian: must run as root (debootstrap, chroot, namespaces)" >&2; exit 2; }

mirror=${RRD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${RRD_CI_CACHE:-/var/cache/rrd-ci}
# What a freshly installed Debian 12 of a new user has, beyond minbase.
include=gcc,libc6-dev,git,python3,ca-certificates
tarball="$cache/bookworm-minbase-root-$(echo "$include" | md5sum | cut -c1-8).tar.gz"

rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_bin=$(dirname "$(command -v cargo)")
[ -d "$rustup_home/toolchains" ] || { echo "fresh-debian: no Rust toolchain at $rustup_home" >&2; exit 2; }

if ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
fi

t0=$(date +%s)
mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
  echo "fresh-debian: installing a minimal bookworm from $mirror, cached as $tarball"
  work=$(mktemp -d /var/tmp/rrd-debootstrap.XXXXXX)
  debootstrap --variant=minbase --include="$include" bookworm "$work/root" "$mirror" \
    >"$work/log" 2>&1 || { tail -20 "$work/log"; rm -rf --one-file-system "$work"; exit 1; }
  rm -rf "$work/root/var/cache/apt/archives/"*.deb
  tar -C "$work/root" -czf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf --one-file-system "$work"
fi

if [ -n "$keep" ]; then
  root=$keep
  rm -rf --one-file-system "$root"
  mkdir -p "$root"
else
  root=$(mktemp -d /var/tmp/rrd-fresh-debian.XXXXXX)
  trap 'rm -rf --one-file-system "$root"' EXIT
fi
echo "fresh-debian: unpacking bookworm into $root"
tar -C "$root" -xzf "$tarball"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# This site's own certificate authorities (a TLS-inspecting egress proxy
# here): part of the machine, not of what rrd installs.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null 2>&1
fi
# The same Debian mirror configuration as this machine (deb822 sources).
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  rm -f "$root/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
fi
mkdir -p "$root/opt/rustup" "$root/opt/cargo-bin" "$root/root"
git clone -q --no-local "$repo" "$root/root/rrd"
git -C "$root/root/rrd" checkout -q "$(git -C "$repo" rev-parse HEAD)"
echo "fresh-debian: ready in $(($(date +%s) - t0)) s (commit $(git -C "$repo" rev-parse --short HEAD))"

toolchain=$(rustup show active-toolchain | cut -d' ' -f1)
mounts="mount --bind '$root' '$root'
mount -t proc proc '$root/proc'
mount --rbind /dev '$root/dev'
mount -t sysfs sysfs '$root/sys'
mount -t tmpfs tmpfs '$root/run'
mount -t tmpfs tmpfs '$root/tmp'
mount --bind -o ro '$rustup_home' '$root/opt/rustup'
mount --bind -o ro '$cargo_bin' '$root/opt/cargo-bin'"
for b in "${binds[@]}"; do
  src=${b%%:*} dst=${b#*:}
  mkdir -p "$root$dst"
  mounts+="
mount --bind -o ro '$src' '$root$dst'"
done

# PID 1 of the new PID namespace mounts everything (in its own mount
# namespace, so nothing shows outside), then runs COMMAND in the chroot with
# a new user's environment: none of this session's variables.
unshare --mount --propagation private --pid --fork bash -ec "$mounts
exec env -i HOME=/root TERM=dumb LANG=C.UTF-8 CI=\"\${CI:-}\" \
  PATH=/opt/cargo-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  RUSTUP_HOME=/opt/rustup RUSTUP_TOOLCHAIN=$toolchain \
  chroot '$root' bash -c 'cd /root/rrd && exec \"\$@\"' bash \"\$@\"" bash "$@"
