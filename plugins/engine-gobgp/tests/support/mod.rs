//! Test and benchmark support: a private network namespace per test (only
//! `lo` up, documentation addresses on it, no route out), code run inside
//! it on a thread of its own, and gobgpd configs whose log lands in a
//! temporary folder, and an RR config with any number of clients that never
//! come up. Shared by `tests/*.rs` and `benches/add_peers.rs`.
//!
//! Everything carries the process id; every process left in a namespace is
//! killed by PID and the namespace deleted when the guard drops, also on
//! panic.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, Uid};
use rrd_core::model::session_name;
use rrd_core::{Asn, ClusterId, Neighbor, Role, RouterSettings, RrConfig, RuleSet, SessionKind};
use rrd_engine_gobgp::GobgpConfig;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// These tests start real daemons in network namespaces: they need root
/// and gobgpd (Debian package `gobgpd`, see scripts/install-deps.sh).
pub fn require_root_and_gobgpd() {
    assert!(
        Uid::effective().is_root(),
        "this test creates network namespaces and needs root"
    );
    let found = Command::new("gobgpd").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "gobgpd not found in PATH (apt-get install gobgpd)"
    );
}

/// A network namespace that exists while the guard lives.
#[derive(Debug)]
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    /// `rrd-gobgp-<pid>-<n>-<tag>` with `lo` up and `addresses` (CIDR) on
    /// it. No other interface, so no route leads out of it.
    pub fn new(tag: &str, addresses: &[&str]) -> NetNs {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("rrd-gobgp-{}-{n}-{tag}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = NetNs { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        for a in addresses {
            ip(&["-n", &ns.name, "addr", "add", a, "dev", "lo"]);
        }
        ns
    }

    /// PIDs of the processes in the namespace.
    pub fn pids(&self) -> Vec<i32> {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Run `f` on a thread that entered the namespace, on a current-thread
    /// runtime of its own: every socket it opens and every process it
    /// starts lives in the namespace. A panic inside is re-raised here.
    pub fn run<F, Fut, T>(&self, f: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let path = PathBuf::from("/run/netns").join(&self.name);
        let handle = std::thread::spawn(move || {
            let file = std::fs::File::open(&path)
                .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns into the test namespace");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(f())
        });
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        for pid in self.pids() {
            eprintln!("killing leftover pid {pid} in {}", self.name);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        // Give the kernel a moment to reap before the namespace goes.
        for _ in 0..50 {
            if self.pids().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The RR of [`rr_clients`]: its router id, source and listen address.
pub const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 254);
/// The cluster id of [`rr_clients`].
pub const CLUSTER: Ipv4Addr = Ipv4Addr::new(1, 0, 0, 1);
/// The AS of [`rr_clients`], of the RR and of every client.
pub const ASN: u32 = 64512;

/// The i-th neighbor address in 198.18.0.0/15, from 198.18.0.1 on.
pub fn neighbor_address(i: usize) -> Ipv4Addr {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 1));
    Ipv4Addr::from(base + u32::try_from(i).expect("fits"))
}

/// An RR at [`LOCAL`] with `n` RR clients at [`neighbor_address`] 0..n,
/// as calico-v1 nodes (iBGP, AS [`ASN`]). In a namespace with only `lo`
/// they never come up: gobgpd's connection attempts fail at once.
pub fn rr_clients(n: usize) -> RrConfig {
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

/// A managed-gobgpd engine config with the API on the namespace's loopback,
/// the daemon's log and state in `dir`, and gobgpd stopped when the engine
/// is dropped (`stop_daemon_on_exit`; tests of the default, leaving it
/// running, set it back — the namespace guard kills what is left).
pub fn managed(dir: &Path, name: &str, api_port: u16) -> GobgpConfig {
    GobgpConfig {
        api: format!("127.0.0.1:{api_port}"),
        manage_process: true,
        stop_daemon_on_exit: true,
        state_dir: dir.join(format!("{name}.state")),
        log_file: Some(dir.join(format!("{name}.log"))),
        ..GobgpConfig::default()
    }
}

/// The last lines of a log, for failure messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Keeps a temporary folder when the test fails, so its logs can be read.
#[derive(Debug)]
pub struct Logs {
    pub dir: tempfile::TempDir,
}

impl Logs {
    pub fn new() -> Logs {
        Logs {
            dir: tempfile::Builder::new()
                .prefix(&format!("rrd-gobgp-{}-", std::process::id()))
                .tempdir()
                .expect("temp dir"),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let p = self.dir.path().to_path_buf();
            for entry in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                eprintln!(
                    "--- {} (last 40 lines)\n{}",
                    entry.path().display(),
                    tail(&entry.path(), 40)
                );
            }
        }
    }
}

/// CPU seconds (user + system) `pid` has used so far
/// ([`rrd_process::cpu_time`]); 0 when it is gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    rrd_process::cpu_time(pid).map_or(0.0, |t| t.as_secs_f64())
}

/// Whether this run is `cargo bench` (it passes `--bench`): a benchmark's
/// `main` does nothing otherwise (`cargo test --all-targets` builds and
/// runs it too).
pub fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The number in the environment variable `name`, or `default` when it
/// is unset or not a number.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// What `gobgpd --version` prints (empty when it cannot be run).
pub fn gobgpd_version() -> String {
    Command::new("gobgpd")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// `gobgp -p <port> <args>` (the CLI); panics with its output if it fails.
pub fn gobgp_cli<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(port: &str, args: &[S]) {
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
