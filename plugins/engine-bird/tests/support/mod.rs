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

use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rrd_core::testing::conformance::EngineSuiteParams;
use rrd_core::{
    model::session_name, Asn, ClusterId, Neighbor, Role, RouterSettings, RrConfig, RuleSet,
    SessionKind,
};
use rrd_engine_bird::socket::{BirdSocket, Reply};
use rrd_engine_bird::{BirdConfig, BirdVersion};

/// Engine settings for a test: everything in `dir`, the real binaries,
/// the listener bound to the RR's own address (tests run side by side).
/// A managed daemon is stopped when its engine is dropped
/// (`stop_daemon_on_exit`), so that a failing test leaves nothing behind;
/// tests of the default (leave it running) set it back and hold a
/// [`PidGuard`].
pub fn bird_config(version: BirdVersion, dir: &Path, managed: bool) -> BirdConfig {
    let mut c = BirdConfig::in_dir(version, dir);
    match version {
        BirdVersion::V2 => c.binary = bird2_binary(),
        BirdVersion::V1_6 => {
            c.binary = bird16_binary("bird");
            c.binary_v6 = bird16_binary("bird6");
        }
    }
    c.manage_process = managed;
    c.stop_daemon_on_exit = true;
    c.strict_bind = true;
    c.reconfigure_timeout = Duration::from_secs(10);
    c
}

/// Conformance-suite addresses: the RR at host 1 of `slot`, four
/// neighbors at hosts 2..=5 that nobody listens on.
pub fn suite_params(slot: u8) -> EngineSuiteParams {
    EngineSuiteParams {
        router_id: loopback(slot, 1),
        local_v4: loopback(slot, 1),
        local_v6: None,
        neighbors_v4: (2..=5).map(|h| loopback(slot, h)).collect(),
        neighbors_v6: Vec::new(),
    }
}

/// An RR at host 1 of `slot` with client sessions to `clients` (hosts).
pub fn rr_config(slot: u8, clients: &[u8]) -> RrConfig {
    let me = loopback(slot, 1);
    let mut c = RrConfig {
        router: RouterSettings {
            rules: RuleSet::Legacy,
            router_id: me,
            local_as: Asn(64512),
            cluster_id: Some(ClusterId(0x0100_0001)),
            ipv4: Some(me),
            ipv6: None,
            listen_port: None,
        },
        neighbors: Default::default(),
    };
    for host in clients {
        let address = IpAddr::V4(loopback(slot, *host));
        let n = Neighbor {
            peer_node: Some(format!("client-{host}")),
            ..Neighbor::new(
                SessionKind::Node,
                address,
                Asn(64512),
                Role::RrClient {
                    cluster_id: Some(ClusterId(0x0100_0001)),
                },
                Some(IpAddr::V4(me)),
            )
        };
        c.neighbors.insert(session_name(n.kind, n.address, None), n);
    }
    c
}

/// A daemon a test started itself; killed (by PID) and reaped on drop.
#[derive(Debug)]
pub struct ChildGuard {
    pub child: Child,
    pub socket: std::path::PathBuf,
}

impl ChildGuard {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `binary -f -c config -s socket` and wait for its socket.
pub async fn spawn_bird(binary: &Path, config: &Path, socket: &Path) -> ChildGuard {
    let child = Command::new(binary)
        .arg("-f")
        .arg("-c")
        .arg(config)
        .arg("-s")
        .arg(socket)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
    let guard = ChildGuard {
        child,
        socket: socket.to_owned(),
    };
    wait_until(
        "the test daemon's socket",
        Duration::from_secs(10),
        || async { BirdSocket::connect(socket).await.is_ok() },
    )
    .await;
    guard
}

/// One command over a fresh connection.
pub async fn bird_command(socket: &Path, command: &str) -> Reply {
    let mut s = BirdSocket::connect(socket)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    s.command(command).await.unwrap_or_else(|e| panic!("{e}"))
}

/// `show status`'s "Last reconfiguration on ..." line: changes on every
/// `configure` that loads a file.
pub async fn last_reconfiguration(socket: &Path) -> String {
    let r = bird_command(socket, "show status").await;
    r.lines
        .iter()
        .map(|(_, t)| t.trim())
        .find(|t| t.starts_with("Last reconfiguration on"))
        .unwrap_or_else(|| panic!("no reconfiguration time in {r:?}"))
        .to_owned()
}

/// Poll `check` until it holds; panic with `what` after `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether a PID is gone (or a zombie about to be reaped).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// Panic unless every PID is gone within a few seconds.
pub async fn assert_gone(pids: &[u32]) {
    let pids = pids.to_vec();
    wait_until("the daemons to exit", Duration::from_secs(10), || {
        let pids = pids.clone();
        async move { pids.iter().all(|p| process_gone(*p)) }
    })
    .await;
}

/// Daemons a test let outlive their engine: SIGKILLed by PID when the
/// guard drops, also when the test panics.
#[derive(Debug, Default)]
pub struct PidGuard(pub Vec<u32>);

impl PidGuard {
    pub fn add(&mut self, pids: &[u32]) {
        self.0.extend_from_slice(pids);
    }
}

impl Drop for PidGuard {
    fn drop(&mut self) {
        for pid in &self.0 {
            if !process_gone(*pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(*pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// A BIRD 2 client with graceful restart and one route, peering with the
/// RR at host 1 of `slot` from host 2 (protocol `to_rr`).
pub fn client_config(slot: u8) -> String {
    let me = loopback(slot, 2);
    let rr = loopback(slot, 1);
    format!(
        "router id {me};
protocol device {{ }}
protocol static {{ ipv4; route 203.0.113.0/24 blackhole; }}
protocol bgp to_rr {{
  local {me} as 64512;
  neighbor {rr} as 64512;
  strict bind on;
  multihop;
  connect delay time 1;
  graceful restart on;
  ipv4 {{ import all; export all; }};
}}
"
    )
}

/// The client's `to_rr` row: state, since, info.
pub async fn client_session(socket: &Path) -> rrd_engine_bird::observe::ProtocolRow {
    let r = bird_command(socket, "show protocols to_rr").await;
    rrd_engine_bird::observe::protocol_blocks(&r)
        .into_iter()
        .map(|(row, _)| row)
        .find(|row| row.name == "to_rr")
        .unwrap_or_else(|| panic!("no to_rr in {r:?}"))
}
