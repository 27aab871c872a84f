//! Network namespaces on a private bridge.
//!
//! The bridge lives in a namespace of its own and each host's veth pair is
//! created from inside it, so nothing is added to the machine's own
//! namespace. Host `i` gets 198.51.100.`i`/24 and 2001:db8::`i`/64.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::process::Process;

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// One host of the lab: a network namespace with `eth0` on the bridge.
#[derive(Clone, Debug)]
pub struct Host {
    pub name: String,
    pub ns: String,
    pub index: u8,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
}

/// A private L2 segment with hosts on it; torn down on drop.
#[derive(Debug)]
pub struct Lab {
    pub id: String,
    switch_ns: String,
    namespaces: Vec<String>,
    dir: tempfile::TempDir,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ip(args: &[&str]) -> Output {
    run(Command::new("ip").args(args))
}

impl Lab {
    /// A new lab; `tag` shows up in namespace names (keep it short).
    pub fn new(tag: &str) -> Lab {
        assert!(
            nix::unistd::Uid::effective().is_root(),
            "network-namespace labs need root"
        );
        remove_stale_namespaces();
        let n = NEXT_LAB.fetch_add(1, Ordering::SeqCst);
        let id = format!("rrd{}x{n}{tag}", std::process::id());
        let switch_ns = format!("{id}-sw");
        ip(&["netns", "add", &switch_ns]);
        let lab = Lab {
            id: id.clone(),
            switch_ns: switch_ns.clone(),
            namespaces: vec![switch_ns.clone()],
            dir: tempfile::Builder::new()
                .prefix(&format!("{id}-"))
                .tempdir()
                .expect("lab tempdir"),
        };
        ip(&["-n", &switch_ns, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &switch_ns, "link", "set", "br0", "up"]);
        ip(&["-n", &switch_ns, "link", "set", "lo", "up"]);
        lab
    }

    /// A scratch folder for configs, sockets and logs, removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Add host `name` with index `index` (1..=254).
    pub fn add_host(&mut self, name: &str, index: u8) -> Host {
        let ns = format!("{}-{name}", self.id);
        ip(&["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        let port = format!("p{index}");
        ip(&[
            "-n",
            &self.switch_ns,
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &ns,
        ]);
        ip(&[
            "-n",
            &self.switch_ns,
            "link",
            "set",
            &port,
            "master",
            "br0",
            "up",
        ]);
        let ipv4 = Ipv4Addr::new(198, 51, 100, index);
        let ipv6: Ipv6Addr = format!("2001:db8::{index:x}").parse().expect("v6");
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ipv4}/24"),
            "dev",
            "eth0",
        ]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ipv6}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        Host {
            name: name.to_owned(),
            ns,
            index,
            ipv4,
            ipv6,
        }
    }

    /// Add host `name` with no link at all: only loopback, which holds
    /// `ipv4`/32 and `ipv6`/128 as well. Nothing is routed out of it, so a
    /// daemon's connection attempts to any other address fail at once
    /// (network unreachable): the setting for scale benchmarks that
    /// configure thousands of neighbors from 198.18.0.0/15.
    pub fn add_isolated_host(&mut self, name: &str, ipv4: Ipv4Addr, ipv6: Ipv6Addr) -> Host {
        let ns = format!("{}-{name}", self.id);
        ip(&["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&["-n", &ns, "addr", "add", &format!("{ipv4}/32"), "dev", "lo"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ipv6}/128"),
            "dev",
            "lo",
        ]);
        Host {
            name: name.to_owned(),
            ns,
            index: 0,
            ipv4,
            ipv6,
        }
    }
}

impl Host {
    /// A command that runs inside this host's namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(program);
        c
    }

    /// Run a command in the namespace and return its stdout; panics with
    /// stderr on failure.
    pub fn exec(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
        let out = run(self.command(program).args(args));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Start a daemon in the namespace; its output goes to `log`.
    pub fn spawn(
        &self,
        name: &str,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        log: PathBuf,
    ) -> Process {
        let mut cmd = self.command(program);
        cmd.args(args);
        Process::spawn(name, cmd, log)
    }

    /// Run `f` on a thread of its own that entered this host's network
    /// namespace: every socket it opens and every process it starts lives
    /// there (an engine that runs its daemon itself). A panic inside is
    /// raised again here.
    pub fn run_inside<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = PathBuf::from("/run/netns").join(&self.ns);
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(&path)
                .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("setns into the host's namespace");
            f()
        });
        match thread.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// A TCP socket listening at `addr` inside this host's namespace, for a
    /// server of the test process (an in-test API server or Consul) that
    /// the host's programs reach as a local one. The socket is made from a
    /// thread that joined the namespace; it stays in it wherever it is
    /// used.
    pub fn listen_tcp(&self, addr: std::net::SocketAddr) -> std::net::TcpListener {
        let path = format!("/var/run/netns/{}", self.ns);
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                std::net::TcpListener::bind(addr)
                    .unwrap_or_else(|e| panic!("bind {addr} in {}: {e}", self.ns))
            })
            .join()
            .expect("the listening thread")
        })
    }

    /// Prefixes the kernel routing table holds from BIRD (`proto bird`).
    pub fn bird_routes(&self) -> Vec<String> {
        let out = Command::new("ip")
            .args(["-n", &self.ns, "route", "show", "proto", "bird"])
            .output()
            .expect("ip route");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            kill_namespace_processes(ns);
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn kill_namespace_processes(ns: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
        return;
    };
    // A process may have entered the namespace itself (a benchmark that
    // runs its clients there): it is not ours to kill.
    let me = std::process::id().to_string();
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if pid == me {
            continue;
        }
        if let Ok(pid) = pid.parse::<i32>() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Delete namespaces left behind by test runs whose process is gone.
fn remove_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("rrd") else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('x') else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            kill_namespace_processes(name);
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}
