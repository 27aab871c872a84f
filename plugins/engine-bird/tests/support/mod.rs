//! Shared by the integration tests: where the real BIRD binaries are, and
//! addresses that are unique to this test run.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::PathBuf;

/// BIRD 2: `bird` from the `bird2` package.
pub fn bird2_binary() -> PathBuf {
    PathBuf::from(std::env::var_os("RRD_BIRD2").unwrap_or_else(|| "/usr/sbin/bird".into()))
}

/// BIRD 1.6 unpacked by `scripts/install-deps.sh` (env `RRD_BIRD16_SBIN`
/// overrides the folder).
pub fn bird16_sbin() -> PathBuf {
    match std::env::var_os("RRD_BIRD16_SBIN") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.deps/bird16/usr/sbin"),
    }
}

/// `bird` or `bird6` of BIRD 1.6.
pub fn bird16_binary(name: &str) -> PathBuf {
    bird16_sbin().join(name)
}

/// `127.A.B.<host>` with A.B derived from this process id, so that parallel
/// or crashed runs never share an address; `slot` separates the tests of
/// one run (each gets ten hosts).
pub fn loopback(slot: u8, host: u8) -> Ipv4Addr {
    let pid = std::process::id();
    let a = 10 + ((pid >> 8) % 240) as u8;
    let b = (pid & 0xff) as u8;
    Ipv4Addr::new(127, a, b, slot * 10 + host)
}
