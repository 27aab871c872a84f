#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine as root with only the
# Rust toolchain: installs the daemons the tests start (scripts/install-deps.sh),
# then formatting, lints, and every test (unit, golden, conformance against
# real etcd/BIRD/gobgpd, end-to-end scenarios in network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export RRD_CALICO_FIXTURES="${RRD_CALICO_FIXTURES:-$(pwd)/../shared/calico-fixtures}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
# Every fuzz target for a few seconds on the nightly toolchain (the stable
# replay of every corpus file ran above, in crates/rrd-fuzz). RRD_FUZZ_SMOKE=0
# skips it; RRD_FUZZ_SMOKE=<seconds> sets the time per target (default 5).
if [ "${RRD_FUZZ_SMOKE:-5}" != 0 ]; then
  CARGO_FUZZ_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}/fuzz" ./scripts/fuzz.sh smoke "${RRD_FUZZ_SMOKE:-5}"
fi
