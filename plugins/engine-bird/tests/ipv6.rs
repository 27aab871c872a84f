//! The engine conformance suite with IPv4 *and* IPv6 sessions (BIRD 2's
//! second template, BIRD 1.6's `bird6` daemon), run inside a network
//! namespace of this test: its loopback holds the RR's IPv6 address, and
//! with no route out, connection attempts to the IPv6 neighbors
//! (2001:db8::/32) never leave it. Needs root and `ip` (iproute2).

mod support;

use std::net::Ipv6Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rrd_core::testing::conformance::engine_suite;
use rrd_engine_bird::{BirdEngine, BirdVersion};
use support::*;

/// A network namespace, deleted on drop (after the daemons in it: declare
/// it before the engine).
struct Netns(String);

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    fn new(tag: &str, v6: Ipv6Addr) -> Netns {
        let name = format!("rrd-bird-{}-{tag}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &ns.0,
            "addr",
            "add",
            &format!("{v6}/128"),
            "dev",
            "lo",
        ]);
        ns
    }

    /// A script that runs `binary` inside the namespace. `ip netns exec`
    /// execs the binary, so the PID the engine tracks is BIRD's own.
    fn wrap(&self, dir: &Path, binary: &Path) -> PathBuf {
        let name = binary.file_name().unwrap().to_string_lossy();
        let script = dir.join(format!("{name}-in-netns"));
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nexec ip netns exec {} {} \"$@\"\n",
                self.0,
                binary.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

async fn dual_stack_conformance(version: BirdVersion, tag: &str) {
    let pid = std::process::id();
    let v6 =
        |host: u16| Ipv6Addr::new(0x2001, 0xdb8, (pid >> 16) as u16, pid as u16, 0, 0, 0, host);
    let ns = Netns::new(tag, v6(1));
    let dir = tempfile::tempdir().unwrap();
    let mut config = bird_config(version, dir.path(), true);
    config.binary = ns.wrap(dir.path(), &config.binary);
    config.binary_v6 = ns.wrap(dir.path(), &config.binary_v6);
    let mut params = suite_params(1);
    params.local_v6 = Some(v6(1));
    params.neighbors_v6 = vec![v6(2)];
    let mut engine = BirdEngine::new(config.clone());
    engine_suite(&mut engine, &params).await;
    assert!(engine.daemon_pids().is_empty());
    drop(engine);
    drop(ns);
}

#[tokio::test]
async fn bird2_passes_the_engine_suite_with_ipv6_sessions() {
    dual_stack_conformance(BirdVersion::V2, "b2").await;
}

#[tokio::test]
async fn bird16_passes_the_engine_suite_with_ipv6_sessions_in_bird6() {
    dual_stack_conformance(BirdVersion::V1_6, "b16").await;
}
