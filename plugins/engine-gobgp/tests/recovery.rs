//! gobgpd dies (kill -9): the engine reports it Down then Unconfigured,
//! its supervisor restarts it, and one re-apply restores every peer.
//! Also: an engine attached to a gobgpd it does not run. Root needed.

mod support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rrd_core::testing::conformance::{suite_config, EngineSuiteParams};
use rrd_core::{plan, BgpEngine, DaemonState, EngineError, PeerKey, StartMode, StopMode};
use rrd_engine_gobgp::{GobgpConfig, GobgpEngine};
use support::{managed, require_root_and_gobgpd, Logs, NetNs};
use tokio::time::Instant;

fn params() -> EngineSuiteParams {
    EngineSuiteParams {
        router_id: "198.51.100.1".parse().unwrap(),
        local_v4: "198.51.100.1".parse().unwrap(),
        local_v6: None,
        neighbors_v4: (2..6).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect(),
        neighbors_v6: vec![],
    }
}

#[test]
fn a_killed_gobgpd_is_reported_unconfigured_and_one_reapply_restores_every_peer() {
    require_root_and_gobgpd();
    let logs = Logs::new();
    let ns = NetNs::new("kill9", &["198.51.100.1/32"]);
    let config = managed(logs.path(), "gobgpd", 50051);
    ns.run(move || async move {
        let desired = suite_config(&params());
        let mut engine = GobgpEngine::new(config);
        engine.start(StartMode::Fresh).await.unwrap();
        let held = engine.held().await.unwrap();
        assert_eq!(held, None, "a fresh gobgpd holds nothing");
        engine.apply(&desired, &plan(&desired, None)).await.unwrap();
        assert_eq!(engine.held().await.unwrap().as_ref(), Some(&desired));

        let pid = engine.daemon_pid().expect("managed gobgpd runs");
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();

        // Poll until the restarted daemon answers: Down while it is gone
        // (or not yet listening), Unconfigured once it is back.
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let o = engine.observe().await.unwrap();
            let label = match &o.daemon {
                DaemonState::Running => "Running",
                DaemonState::Unconfigured => "Unconfigured",
                DaemonState::Down { .. } => "Down",
            };
            if seen.last() != Some(&label) {
                seen.push(label);
            }
            if o.daemon == DaemonState::Unconfigured {
                assert!(o.sessions.is_empty());
                break;
            }
            assert!(Instant::now() < deadline, "states seen: {seen:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!("states after kill -9: {seen:?}");
        assert!(
            seen.iter()
                .skip_while(|s| **s == "Running")
                .all(|s| *s != "Running"),
            "{seen:?}"
        );
        assert_eq!(engine.daemon_restarts(), 1);
        assert_ne!(engine.daemon_pid(), Some(pid), "a new gobgpd runs");

        // The runtime's next round: held() says nothing, plan is
        // everything, one apply brings every session back.
        let held = engine.held().await.unwrap();
        assert_eq!(held, None);
        let p = plan(&desired, held.as_ref());
        let report = engine.apply(&desired, &p).await.unwrap();
        assert!(report.changed);
        assert!(report.operations[0].starts_with("StartBgp"), "{report:?}");
        assert_eq!(report.operations.len(), 1 + desired.neighbors.len());
        assert_eq!(engine.held().await.unwrap().as_ref(), Some(&desired));
        let o = engine.observe().await.unwrap();
        assert_eq!(o.daemon, DaemonState::Running);
        let keys: BTreeSet<PeerKey> = o.sessions.iter().map(|s| s.key.clone()).collect();
        assert_eq!(keys, desired.neighbors.keys().cloned().collect());

        engine.stop(StopMode::PreserveForwarding).await.unwrap();
        assert_eq!(engine.daemon_pid(), None);
    });
    assert!(ns.pids().is_empty(), "processes left in {}", ns.name);
}

#[test]
fn an_attached_engine_stops_bgp_over_grpc_and_cannot_stop_without_notifications() {
    require_root_and_gobgpd();
    let logs = Logs::new();
    let ns = NetNs::new("attach", &["198.51.100.1/32"]);
    let log = std::fs::File::create(logs.path().join("gobgpd.log")).unwrap();
    ns.run(move || async move {
        // gobgpd run by "someone else" (this test), stopped by PID below.
        let mut daemon = tokio::process::Command::new("gobgpd")
            .args([
                "--api-hosts",
                "127.0.0.1:50051",
                "--pprof-disable",
                "--log-plain",
            ])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let desired = suite_config(&params());
        let mut engine = GobgpEngine::new(GobgpConfig {
            api: "127.0.0.1:50051".into(),
            ..GobgpConfig::default()
        });
        engine.start(StartMode::Fresh).await.unwrap();
        assert_eq!(engine.daemon_pid(), None);
        engine.apply(&desired, &plan(&desired, None)).await.unwrap();
        assert_eq!(engine.held().await.unwrap().as_ref(), Some(&desired));

        let err = engine.stop(StopMode::PreserveForwarding).await.unwrap_err();
        assert!(matches!(err, EngineError::Unsupported { .. }), "{err}");
        engine.stop(StopMode::Graceful).await.unwrap();

        // gobgpd still runs, without BGP.
        let mut probe = GobgpEngine::new(GobgpConfig {
            api: "127.0.0.1:50051".into(),
            ..GobgpConfig::default()
        });
        probe.start(StartMode::Fresh).await.unwrap();
        assert_eq!(probe.held().await.unwrap(), None);
        assert_eq!(
            probe.observe().await.unwrap().daemon,
            DaemonState::Unconfigured
        );

        let pid = daemon.id().unwrap();
        kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
        daemon.wait().await.unwrap();
        let o = probe.observe().await.unwrap();
        assert!(matches!(o.daemon, DaemonState::Down { .. }), "{o:?}");
    });
    assert!(ns.pids().is_empty(), "processes left in {}", ns.name);
}

/// Whether `pid` still runs (a zombie waiting to be reaped does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

#[test]
fn dropping_a_managed_engine_kills_its_gobgpd() {
    require_root_and_gobgpd();
    let logs = Logs::new();
    let ns = NetNs::new("drop", &["198.51.100.1/32"]);
    let config = managed(logs.path(), "gobgpd", 50051);
    ns.run(move || async move {
        let mut engine = GobgpEngine::new(config);
        engine.start(StartMode::Fresh).await.unwrap();
        let pid = engine.daemon_pid().unwrap();
        assert!(running(pid));
        drop(engine);
        let deadline = Instant::now() + Duration::from_secs(5);
        while running(pid) {
            assert!(
                Instant::now() < deadline,
                "gobgpd {pid} survived the engine"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    assert!(ns.pids().is_empty(), "processes left in {}", ns.name);
}
