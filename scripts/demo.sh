#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine, as root: installs the daemons,
# builds rrd, and runs a whole route reflector in a network-namespace lab
# (rrd + BIRD 2 as RR + three Calico-like BIRD 1.6 clients), prints
# `rrd status` and the routes the clients learned, then cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build -p rrd --bin rrd --example lab_demo
exec ./target/debug/examples/lab_demo
