//! Adding (and deleting) N RR-client neighbors to a running gobgpd: through
//! rrd's engine (one apply = N AddPeer RPCs over one long-lived gRPC
//! channel) versus N `gobgp neighbor add ... route-reflector-client <id>`
//! CLI calls, each against a fresh gobgpd of the same kind. Prints wall
//! times; asserts nothing about them.
//!
//! Run (root, gobgpd installed):
//!   cargo bench -p rrd-engine-gobgp --bench add_peers            # N = 1000
//!   RRD_BENCH_PEERS=5000 cargo bench -p rrd-engine-gobgp --bench add_peers
//!
//! The benchmark creates its own network namespace `rrd-gobgp-<pid>-...`
//! (only `lo` up, 198.19.255.254/32 on it, no route out), enters it on a
//! dedicated thread, and runs both daemons, the gRPC API (127.0.0.1 of that
//! namespace) and the CLI calls there. Neighbors come from 198.18.0.0/15:
//! gobgpd's connection attempts to them fail with "network unreachable"
//! inside the namespace. Daemons are stopped by PID; the namespace is
//! deleted at the end, also on failure.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rrd_core::model::session_name;
use rrd_core::{
    plan, Asn, BgpEngine, ClusterId, Neighbor, Role, RouterSettings, RrConfig, RuleSet,
    SessionKind, StartMode, StopMode,
};
use rrd_engine_gobgp::{GobgpConfig, GobgpEngine};
use support::{require_root_and_gobgpd, Logs, NetNs};

const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 254);
const CLUSTER: Ipv4Addr = Ipv4Addr::new(1, 0, 0, 1);
const ASN: u32 = 64512;

/// The i-th neighbor address in 198.18.0.0/15, from 198.18.0.1 on.
fn neighbor_address(i: usize) -> Ipv4Addr {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 1));
    Ipv4Addr::from(base + u32::try_from(i).expect("fits"))
}

fn config(n: usize) -> RrConfig {
    let mut neighbors = BTreeMap::new();
    for i in 0..n {
        let address = IpAddr::V4(neighbor_address(i));
        let neighbor = Neighbor {
            local_as_explicit: false,
            ..Neighbor::new(
                SessionKind::Node,
                address,
                Asn(ASN),
                Role::RrClient {
                    cluster_id: Some(ClusterId(u32::from(CLUSTER))),
                },
                Some(IpAddr::V4(LOCAL)),
            )
        };
        neighbors.insert(session_name(SessionKind::Node, address, None), neighbor);
    }
    RrConfig {
        router: RouterSettings {
            rules: RuleSet::Legacy,
            router_id: LOCAL,
            local_as: Asn(ASN),
            cluster_id: Some(ClusterId(u32::from(CLUSTER))),
            ipv4: Some(LOCAL),
            ipv6: None,
            listen_port: None,
        },
        neighbors,
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn per_peer(d: Duration, n: usize) -> String {
    format!("{:.2} ms/peer", d.as_secs_f64() * 1000.0 / n as f64)
}

/// rrd: apply(N adds), held(), observe(), apply(N removes).
async fn via_rrd(n: usize, logs: std::path::PathBuf) {
    let mut engine = GobgpEngine::new(GobgpConfig {
        api: "127.0.0.1:50051".into(),
        manage_process: true,
        stop_daemon_on_exit: true,
        state_dir: logs.join("state"),
        log_file: Some(logs.join("gobgpd-rrd.log")),
        ..GobgpConfig::default()
    });
    engine.start(StartMode::Fresh).await.expect("start");
    let empty = config(0);
    engine
        .apply(&empty, &plan(&empty, None))
        .await
        .expect("StartBgp");
    let full = config(n);

    let t = Instant::now();
    let held = engine.held().await.expect("held");
    let p = plan(&full, held.as_ref());
    let report = engine.apply(&full, &p).await.expect("apply adds");
    let add = t.elapsed();
    assert_eq!(report.operations.len(), n, "one AddPeer per neighbor");

    let t = Instant::now();
    let held = engine.held().await.expect("held");
    let held_time = t.elapsed();
    assert_eq!(held.as_ref(), Some(&full), "gobgpd holds every neighbor");
    let t = Instant::now();
    let seen = engine.observe().await.expect("observe");
    let observe_time = t.elapsed();
    assert_eq!(seen.sessions.len(), n);

    let t = Instant::now();
    let p = plan(&empty, held.as_ref());
    let report = engine.apply(&empty, &p).await.expect("apply removes");
    let del = t.elapsed();
    assert_eq!(report.operations.len(), n, "one DeletePeer per neighbor");

    println!(
        "rrd  add {n:>5} neighbors (held + plan + apply = {n} AddPeer, one gRPC channel): {} ({})",
        secs(add),
        per_peer(add, n)
    );
    println!(
        "rrd  del {n:>5} neighbors (held + plan + apply = {n} DeletePeer):               {} ({})",
        secs(del),
        per_peer(del, n)
    );
    println!(
        "rrd  held() with {n} peers: {}; observe() with {n} peers: {}",
        secs(held_time),
        secs(observe_time)
    );
    engine.stop(StopMode::Graceful).await.expect("stop");
}

fn gobgp(port: &str, args: &[String]) {
    let out = Command::new("gobgp")
        .arg("-p")
        .arg(port)
        .args(args)
        .output()
        .expect("run gobgp");
    assert!(
        out.status.success(),
        "gobgp {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The CLI: one `gobgp` process per neighbor, as operators script it.
fn via_cli(n: usize, logs: std::path::PathBuf) {
    let port = "50052";
    let log = std::fs::File::create(logs.join("gobgpd-cli.log")).expect("log");
    let mut daemon = Command::new("gobgpd")
        .args([
            "--api-hosts",
            "127.0.0.1:50052",
            "--pprof-disable",
            "--log-plain",
        ])
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start gobgpd");
    let pid = Pid::from_raw(daemon.id() as i32);
    let run = || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Command::new("gobgp")
            .args(["-p", port, "global"])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            assert!(Instant::now() < deadline, "gobgpd did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        let s = |v: &str| v.to_owned();
        gobgp(
            port,
            &[
                s("global"),
                s("as"),
                ASN.to_string(),
                s("router-id"),
                LOCAL.to_string(),
                s("listen-port"),
                s("179"),
                s("listen-addresses"),
                LOCAL.to_string(),
            ],
        );
        let t = Instant::now();
        for i in 0..n {
            gobgp(
                port,
                &[
                    s("neighbor"),
                    s("add"),
                    neighbor_address(i).to_string(),
                    s("as"),
                    ASN.to_string(),
                    s("route-reflector-client"),
                    CLUSTER.to_string(),
                ],
            );
        }
        let add = t.elapsed();
        let t = Instant::now();
        for i in 0..n {
            gobgp(
                port,
                &[s("neighbor"), s("del"), neighbor_address(i).to_string()],
            );
        }
        let del = t.elapsed();
        println!(
            "cli  add {n:>5} neighbors ({n} x `gobgp neighbor add <ip> as {ASN} route-reflector-client {CLUSTER}`): {} ({})",
            secs(add),
            per_peer(add, n)
        );
        println!(
            "cli  del {n:>5} neighbors ({n} x `gobgp neighbor del <ip>`):                                  {} ({})",
            secs(del),
            per_peer(del, n)
        );
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
    let _ = kill(pid, Signal::SIGTERM);
    let _ = daemon.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` too. Only run
    // when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    require_root_and_gobgpd();
    let n: usize = std::env::var("RRD_BENCH_PEERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    assert!(n <= 131_070, "198.18.0.0/15 holds 131,070 neighbors");
    let version = Command::new("gobgpd")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let logs = Logs::new();
    let ns = NetNs::new("bench", &[&format!("{LOCAL}/32")]);
    println!(
        "{version}; {n} RR-client neighbors from 198.18.0.1 on; namespace {} (no route out)",
        ns.name
    );
    let dir = logs.path().to_path_buf();
    ns.run(move || via_rrd(n, dir));
    let dir = logs.path().to_path_buf();
    ns.run(move || async move { via_cli(n, dir) });
    assert!(ns.pids().is_empty(), "processes left in {}", ns.name);
}
