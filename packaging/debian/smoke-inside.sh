#!/usr/bin/env bash
# Inside a fresh Debian 12 (scripts/fresh-debian.sh): install the .deb with
# apt, as an operator would, configure it, start rrd with the unit's own
# ExecStart line and check that it drives BIRD 2 (installed as the
# package's recommendation).
#
#   bash packaging/debian/smoke-inside.sh /path/to/rrd_<version>_<arch>.deb
#
# There is no systemd in the chroot: rrd runs in a network namespace of its
# own (only loopback, with the RR's and a client's documentation-range
# addresses), started from the installed unit's ExecStart; everything it
# started ends with the chroot's PID namespace.
set -euo pipefail
deb=$1
t0=$(date +%s)
say() { echo "deb-smoke [$(($(date +%s) - t0))s]: $*"; }

# No service starts while packages install in a chroot (Debian's policy-rc.d).
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d

work=$(mktemp -d)
cp "$deb" "$work/"
say "apt-get install ./$(basename "$deb")"
apt-get update -q >/dev/null
(cd "$work" && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./$(basename "$deb")")
# The smoke test's own tools, not the package's.
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iproute2 curl >/dev/null
dpkg-query -W -f='installed: ${Package} ${Version} ${Status}\n' rrd bird2
for f in /usr/bin/rrd /lib/systemd/system/rrd.service /etc/rrd/rrd.toml \
  /usr/share/man/man1/rrd.1.gz /usr/share/bash-completion/completions/rrd \
  /usr/share/zsh/vendor-completions/_rrd /usr/share/fish/vendor_completions.d/rrd.fish \
  /usr/share/doc/rrd/rrd.toml.reference; do
  [ -s "$f" ] || { echo "deb-smoke: $f missing from the installed package" >&2; exit 1; }
done
grep -q '^KillMode=process' /lib/systemd/system/rrd.service
zcat /usr/share/man/man1/rrd.1.gz | grep -q '^\.TH' || { echo "deb-smoke: rrd.1 is not a man page" >&2; exit 1; }
rrd --version

say "configure: this RR is 198.51.100.10, one client 198.51.100.21 (file source)"
sed -i -e 's/^kind = "etcd"/kind = "file"/' /etc/rrd/rrd.toml
printf '\n[source.file]\npath = "/etc/rrd/topology.toml"\npoll_interval = "200ms"\n' >>/etc/rrd/rrd.toml
cat >/etc/rrd/topology.toml <<'TOPO'
rules = "legacy"
[defaults]
asn = 64512
node_mesh = false

[[route_reflectors]]
ip = "198.51.100.10"
cluster_id = "1.0.0.1"

[[peers]]
ip = "198.51.100.10"
asn = 64512

[[nodes]]
name = "c21"
ipv4 = "198.51.100.21"
TOPO
mkdir -p /run/rrd /var/lib/rrd
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/rrd.service)
say "start: $exec_start"

unshare --net bash -euo pipefail -c '
  ip link set lo up
  ip addr add 198.51.100.10/32 dev lo
  ip addr add 198.51.100.21/32 dev lo
  '"$exec_start"' >/var/log/rrd-smoke.log 2>&1 &
  rrd_pid=$!
  # Polled: rrd answers on its admin socket, ready, with BIRD holding the
  # client session and rrd having observed it.
  for _ in $(seq 1 150); do
    if rrd status 2>/dev/null | grep -q "engine: bird.*running" &&
      birdc -s /run/rrd/bird.ctl show protocols 2>/dev/null | grep -q Global_198_51_100_21; then
      break
    fi
    sleep 0.2
  done
  rrd status || { tail -30 /var/log/rrd-smoke.log; exit 1; }
  curl -fsS http://127.0.0.1:9180/healthz
  curl -fsS http://127.0.0.1:9180/readyz
  birdc -s /run/rrd/bird.ctl show protocols | grep Global_198_51_100_21 || { echo "BIRD has no session for the client"; exit 1; }
  echo "BIRD started by rrd: $(birdc -s /run/rrd/bird.ctl show status | head -1)"
  curl -fsS http://127.0.0.1:9180/metrics | grep "^rrd_peer_session_state{.*state=\"established\"\|^rrd_build_info" || true
  kill -TERM "$rrd_pid"; wait "$rrd_pid" || true
  kill -TERM "$(cat /var/lib/rrd/bird.conf.rrd.pid)" 2>/dev/null || true
'
say "the installed package ran: rrd started BIRD and reported ready"
