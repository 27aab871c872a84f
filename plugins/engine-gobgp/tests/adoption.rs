//! Restarting rrd is hitless with `manage_process = true`: the engine is
//! dropped, gobgpd keeps running with its sessions, and the next engine
//! adopts that very process, holds exactly the applied config (also what
//! gobgpd does not store) and sends no RPC that changes anything. Also: the
//! adopted gobgpd is restarted when it dies, a second engine cannot manage
//! it at the same time, `stop_daemon_on_exit` stops it on drop, and
//! something else on the API address is refused. Real gobgpd in a private
//! namespace (root needed); whatever a failing test leaves there is killed
//! by PID with the namespace.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rrd_core::{
    plan, Asn, BgpEngine, ClusterId, DaemonState, Family, GracefulRestart, Neighbor, NextHop,
    PeerKey, Role, RouterSettings, RrConfig, RuleSet, SessionKind, SessionState, StartMode,
    StopMode, Ttl,
};
use rrd_engine_gobgp::GobgpEngine;
use support::{managed, require_root_and_gobgpd, Logs, NetNs};
use tokio::time::Instant;

const RR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

/// One session from `me` to `peer`; `node` is what gobgpd cannot store.
fn speaker(me: Ipv4Addr, peer: Ipv4Addr, role: Role, node: Option<&str>) -> RrConfig {
    let n = Neighbor {
        kind: SessionKind::Node,
        address: IpAddr::V4(peer),
        port: None,
        remote_as: Asn(64512),
        local_as: Asn(64512),
        local_as_explicit: true,
        role,
        source_address: Some(IpAddr::V4(me)),
        ttl: Ttl::Multihop(None),
        graceful_restart: GracefulRestart {
            enabled: true,
            restart_time: Some(60),
        },
        password: None,
        passive: false,
        next_hop: NextHop::Auto,
        allow_local_as: None,
        keepalive_time: None,
        families: BTreeSet::from([Family::Ipv4]),
        peer_node: node.map(str::to_owned),
    };
    let key = rrd_core::model::session_name(n.kind, n.address, n.port);
    RrConfig {
        router: RouterSettings {
            rules: RuleSet::CalicoV3,
            router_id: me,
            local_as: Asn(64512),
            cluster_id: Some(ClusterId(0x0100_0001)),
            ipv4: Some(me),
            ipv6: None,
            listen_port: None,
        },
        neighbors: BTreeMap::from([(key, n)]),
    }
}

/// `engine`'s only session once Established: its `since`.
async fn established(engine: &mut GobgpEngine) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = engine.observe().await.unwrap();
        if let Some(s) = o
            .sessions
            .first()
            .filter(|s| s.state == SessionState::Established)
        {
            return s.since.clone().expect("since");
        }
        assert!(Instant::now() < deadline, "no Established session: {o:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether `pid` still runs (a zombie waiting to be reaped does not).
/// `GOGC` in a process's environment.
fn gogc_of(pid: u32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ
        .split(|b| *b == 0)
        .find_map(|v| v.strip_prefix(b"GOGC="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

async fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while running(pid) {
        assert!(Instant::now() < deadline, "gobgpd {pid} still runs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn gobgp_engine_dropped_and_recreated_adopts_the_running_daemon_and_sends_no_rpc() {
    require_root_and_gobgpd();
    let logs = Logs::new();
    let ns = NetNs::new("adopt", &["198.51.100.1/32", "198.51.100.2/32"]);
    let mut rr_config = managed(logs.path(), "rr", 50051);
    rr_config.stop_daemon_on_exit = false;
    let client_config = managed(logs.path(), "client", 50052);
    ns.run(move || async move {
        let client_role = Role::RrClient {
            cluster_id: Some(ClusterId(0x0100_0001)),
        };
        let want = speaker(RR, CLIENT, client_role, Some("node-2"));
        let client_want = speaker(CLIENT, RR, Role::NonClient, None);
        let mut client = GobgpEngine::new(client_config);
        client.start(StartMode::Fresh).await.unwrap();
        client
            .apply(&client_want, &plan(&client_want, None))
            .await
            .unwrap();

        // rrd #1 starts gobgpd and applies; the session comes up.
        let mut first = GobgpEngine::new(rr_config.clone());
        first.start(StartMode::Fresh).await.unwrap();
        first.apply(&want, &plan(&want, None)).await.unwrap();
        let pid = first.daemon_pid().expect("managed gobgpd");
        assert_eq!(
            gogc_of(pid).as_deref(),
            Some("400"),
            "engine.gobgp.gogc reaches the managed gobgpd"
        );
        let since = established(&mut first).await;
        let client_since = established(&mut client).await;

        // rrd #1 exits: gobgpd stays, so does the session.
        drop(first);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(running(pid), "gobgpd must outlive the engine");
        assert_eq!(established(&mut client).await, client_since);

        // rrd #2 adopts the same process and changes nothing.
        let mut second = GobgpEngine::new(rr_config.clone());
        second.start(StartMode::Fresh).await.unwrap();
        assert_eq!(second.daemon_pid(), Some(pid), "adopted, not restarted");
        let held = second.held().await.unwrap();
        assert_eq!(held.as_ref(), Some(&want), "node names come back too");
        let report = second
            .apply(&want, &plan(&want, held.as_ref()))
            .await
            .unwrap();
        assert!(
            !report.changed && report.operations.is_empty(),
            "{report:?}"
        );
        // Even a full plan (as after a lost record) sends no mutating RPC:
        // every peer is already what is desired.
        let report = second.apply(&want, &plan(&want, None)).await.unwrap();
        assert!(
            !report.changed && report.operations.is_empty(),
            "{report:?}"
        );
        assert_eq!(established(&mut second).await, since, "not reset");
        assert_eq!(established(&mut client).await, client_since);

        // Nobody else may manage it meanwhile.
        let mut intruder = GobgpEngine::new(rr_config.clone());
        let e = intruder.start(StartMode::Fresh).await.unwrap_err();
        assert!(e.to_string().contains("another rrd already manages"), "{e}");
        // Not retried: the second rrd exits (issue 13).
        assert!(!e.is_retryable(), "{e}");
        drop(intruder);

        // The adopted gobgpd (not this engine's child) is restarted when
        // it dies, and one apply restores it.
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let o = second.observe().await.unwrap();
            if o.daemon == DaemonState::Unconfigured {
                break;
            }
            assert!(Instant::now() < deadline, "not restarted: {o:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let restarted = second.daemon_pid().expect("restarted");
        assert_ne!(restarted, pid);
        assert_eq!(second.daemon_restarts(), 1);
        let held = second.held().await.unwrap();
        assert_eq!(held, None);
        second.apply(&want, &plan(&want, None)).await.unwrap();
        assert_eq!(second.held().await.unwrap().as_ref(), Some(&want));
        established(&mut second).await;

        // rrd #2 exits too; rrd #3 with stop_daemon_on_exit adopts the
        // gobgpd #2 started, and stops it when dropped.
        drop(second);
        let mut stopping = rr_config.clone();
        stopping.stop_daemon_on_exit = true;
        let mut third = GobgpEngine::new(stopping);
        third.start(StartMode::Fresh).await.unwrap();
        assert_eq!(third.daemon_pid(), Some(restarted));
        assert_eq!(third.held().await.unwrap().as_ref(), Some(&want));
        drop(third);
        wait_gone(restarted).await;
        let pid_file = std::fs::read_to_string(rr_config.pid_path()).unwrap();
        assert_eq!(pid_file, "", "no daemon recorded");

        client.stop(StopMode::Graceful).await.unwrap();
    });
    assert!(ns.pids().is_empty(), "processes left in {}", ns.name);
}

/// A gobgpd the engine has no PID file for holds the API address: refused
/// and left alone. With the PID file a SIGKILLed rrd leaves behind, the
/// same daemon is adopted (and its PID serves `PreserveForwarding`). A PID
/// file naming a process that is not gobgpd (a recycled PID) is ignored and
/// a new gobgpd starts.
#[test]
fn a_gobgpd_on_the_api_is_adopted_only_with_its_pid_file() {
    require_root_and_gobgpd();
    let logs = Logs::new();
    let ns = NetNs::new("foreign", &["198.51.100.1/32"]);
    let config = managed(logs.path(), "rr", 50051);
    let log = std::fs::File::create(logs.path().join("foreign.log")).unwrap();
    ns.run(move || async move {
        let mut foreign = tokio::process::Command::new("gobgpd")
            .args(["--api-hosts", &config.api, "--pprof-disable", "--log-plain"])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let foreign_pid = foreign.id().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(&config.api).await.is_err() {
            assert!(Instant::now() < deadline, "foreign gobgpd did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let mut engine = GobgpEngine::new(config.clone());
        let e = engine.start(StartMode::Fresh).await.unwrap_err();
        assert!(
            e.to_string().contains("already listens on 127.0.0.1:50051"),
            "{e}"
        );
        assert_eq!(engine.daemon_pid(), None);
        drop(engine);
        assert!(foreign.try_wait().unwrap().is_none(), "left alone");

        std::fs::write(config.pid_path(), format!("{foreign_pid}\n")).unwrap();
        let mut engine = GobgpEngine::new(config.clone());
        engine.start(StartMode::Fresh).await.unwrap();
        assert_eq!(engine.daemon_pid(), Some(foreign_pid));
        // Its PID serves a stop without NOTIFICATIONs (SIGKILL).
        engine.stop(StopMode::PreserveForwarding).await.unwrap();
        assert_eq!(engine.daemon_pid(), None);
        wait_gone(foreign_pid).await;
        let _ = foreign.wait().await;

        std::fs::write(config.pid_path(), format!("{}\n", std::process::id())).unwrap();
        let mut engine = GobgpEngine::new(config.clone());
        engine.start(StartMode::Fresh).await.unwrap();
        let fresh = engine.daemon_pid().expect("a new gobgpd");
        assert_ne!(fresh, std::process::id());
        assert_eq!(
            std::fs::read_to_string(config.pid_path()).unwrap(),
            format!("{fresh}\n")
        );
        engine.stop(StopMode::Graceful).await.unwrap();
        assert!(!running(fresh));
    });
    assert!(ns.pids().is_empty(), "processes left in {}", ns.name);
}

#[test]
fn held_is_exact_only_through_the_record_of_a_managed_engine() {
    // The record is what makes node names survive: without it (deleted),
    // an adopted gobgpd's held() lacks them, yet nothing is re-applied.
    require_root_and_gobgpd();
    let logs = Logs::new();
    let ns = NetNs::new("record", &["198.51.100.1/32"]);
    let mut config = managed(logs.path(), "rr", 50051);
    config.stop_daemon_on_exit = false;
    ns.run(move || async move {
        let role = Role::RrClient {
            cluster_id: Some(ClusterId(0x0100_0001)),
        };
        let want = speaker(RR, CLIENT, role, Some("node-2"));
        let mut first = GobgpEngine::new(config.clone());
        first.start(StartMode::Fresh).await.unwrap();
        first.apply(&want, &plan(&want, None)).await.unwrap();
        let pid = first.daemon_pid().unwrap();
        drop(first);
        std::fs::remove_file(config.record_path()).unwrap();

        let mut stopping = config.clone();
        stopping.stop_daemon_on_exit = true;
        let mut second = GobgpEngine::new(stopping);
        second.start(StartMode::Fresh).await.unwrap();
        assert_eq!(second.daemon_pid(), Some(pid));
        let held = second.held().await.unwrap().expect("gobgpd runs BGP");
        let key: &PeerKey = want.neighbors.keys().next().unwrap();
        assert_eq!(held.neighbors[key].peer_node, None, "not stored by gobgpd");
        let p = plan(&want, Some(&held));
        assert!(!p.is_empty());
        let report = second.apply(&want, &p).await.unwrap();
        assert!(report.operations.is_empty(), "{report:?}");
        assert_eq!(second.held().await.unwrap().as_ref(), Some(&want));
        drop(second);
        wait_gone(pid).await;
    });
    assert!(ns.pids().is_empty(), "processes left in {}", ns.name);
}
