//! Test and benchmark support: a private network namespace per test (only
//! `lo` up, documentation addresses on it, no route out), code run inside
//! it on a thread of its own, and gobgpd configs whose log lands in a
//! temporary folder. Shared by `tests/*.rs` and `benches/add_peers.rs`.
//!
//! Everything carries the process id; every process left in a namespace is
//! killed by PID and the namespace deleted when the guard drops, also on
//! panic.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, Uid};
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
