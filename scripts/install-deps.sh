#!/usr/bin/env bash
# Install everything rrd's demo and tests need on a fresh Debian 12 (as root):
# the real daemons (etcd, BIRD 2, BIRD 1.6 unpacked beside BIRD 2, gobgpd,
# FRR's bgpd with vtysh and frr-reload.py),
# protoc for etcd-client's build script, and the network tools the labs use.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
packages=(etcd-server bird2 gobgpd golang-github-osrg-gobgp-dev frr frr-pythontools protobuf-compiler libprotobuf-dev iproute2 procps curl ca-certificates openssl
  systemd util-linux buildah debootstrap dpkg-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -q
  # Packages start their services (etcd, bird, frr) through invoke-rc.d
  # where an init system runs: forbid that for this install (policy-rc.d
  # exit 101), so that nothing runs that the tests did not start. A
  # policy-rc.d already in place (containers have one) is left alone.
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" || status=$?
  if [ -n "$own_policy" ]; then rm -f "$policy"; fi
  [ -z "${status:-}" ] || exit "$status"
fi
# BIRD 1.6 conflicts with bird2 as a package: unpack it into .deps/bird16.
bird16="$repo/.deps/bird16"
if [ ! -x "$bird16/usr/sbin/bird" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download bird >/dev/null 2>&1 || { apt-get update -q && apt-get download bird; })
  mkdir -p "$bird16"
  dpkg -x "$tmp"/bird_*.deb "$bird16"
  rm -rf "$tmp"
fi
# promtool (the packaging and observability tests) from the prometheus
# package, unpacked into .deps/prometheus: installing the package would start
# a Prometheus server.
promtool="$repo/.deps/prometheus/usr/bin/promtool"
if [ ! -x "$promtool" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1 || { apt-get update -q && apt-get download prometheus; })
  mkdir -p "$repo/.deps/prometheus"
  dpkg -x "$tmp"/prometheus_*.deb "$repo/.deps/prometheus"
  rm -rf "$tmp"
fi
echo "deps ready: $(bird --version 2>&1 | head -1); BIRD 1.6 at $bird16/usr/sbin/bird; $(gobgpd --version); $(etcd --version | head -1); $(/usr/lib/frr/bgpd --version | head -1); $("$promtool" --version 2>&1 | head -1)"
