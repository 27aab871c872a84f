//! The BIRD engine against real daemons: BIRD 2.0.12 (`/usr/sbin/bird`)
//! and BIRD 1.6.8 (`bird` + `bird6` from `RRD_BIRD16_SBIN`). Needs root
//! (BGP's port 179 on loopback). Every daemon is bound to a 127.A.B.x
//! address unique to this run; neighbors are loopback addresses nobody
//! listens on. Files and sockets live in a temporary directory; every
//! daemon is stopped by PID, also when a test panics.

mod support;

use std::time::Duration;

use rrd_core::testing::conformance::engine_suite;
use rrd_core::{
    plan, BgpEngine, DaemonState, EngineError, Recovery, SessionState, StartMode, StopMode,
};
use rrd_engine_bird::{BirdEngine, BirdVersion};
use support::*;

fn slot(version: BirdVersion, n: u8) -> u8 {
    // BIRD 2 tests use slots 1..=11, BIRD 1.6 tests 12..=22.
    match version {
        BirdVersion::V2 => n,
        BirdVersion::V1_6 => 11 + n,
    }
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "rrd_engine_bird=info".into()),
        )
        .with_test_writer()
        .try_init();
}

async fn conformance(version: BirdVersion) {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let mut engine = BirdEngine::new(bird_config(version, dir.path(), true));
    engine_suite(&mut engine, &suite_params(slot(version, 1))).await;
    let pids = engine.daemon_pids();
    assert!(
        pids.is_empty(),
        "stop(Graceful) must end every daemon: {pids:?}"
    );
}

#[tokio::test]
async fn bird2_passes_the_engine_conformance_suite() {
    conformance(BirdVersion::V2).await;
}

#[tokio::test]
async fn bird16_passes_the_engine_conformance_suite() {
    conformance(BirdVersion::V1_6).await;
}

/// Apply `a`, then a config BIRD refuses (an eBGP peer as RR client):
/// `Rejected` with BIRD's message, the old file live and loaded.
async fn refused_config_leaves_the_old_one_running(version: BirdVersion) {
    init_logs();
    let s = slot(version, 2);
    let dir = tempfile::tempdir().unwrap();
    let config = bird_config(version, dir.path(), true);
    let mut engine = BirdEngine::new(config.clone());
    engine.start(StartMode::Fresh).await.unwrap();
    let a = rr_config(s, &[2, 3]);
    engine.apply(&a, &plan(&a, None)).await.unwrap();
    let live_a = std::fs::read(&config.config_path).unwrap();
    let before = last_reconfiguration(&config.socket).await;

    let mut b = a.clone();
    let n = b.neighbors.values_mut().next().unwrap();
    n.remote_as = rrd_core::Asn(65001);
    let err = engine
        .apply(&b, &plan(&b, Some(&a)))
        .await
        .expect_err("BIRD must refuse an eBGP RR client");
    match &err {
        EngineError::Rejected { reason, .. } => assert!(
            reason.contains("Only internal neighbor can be RR client"),
            "BIRD's message must be passed on: {reason}"
        ),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(&config.config_path).unwrap(),
        live_a,
        "the old file stays live"
    );
    let kept = format!("{}.rrd-rejected", config.config_path.display());
    assert!(
        std::fs::read_to_string(&kept)
            .unwrap()
            .contains("as 65001;"),
        "refused file kept for the operator"
    );
    assert_eq!(engine.held().await.unwrap(), Some(a.clone()));
    assert_eq!(
        last_reconfiguration(&config.socket).await,
        before,
        "BIRD refused the staged file and kept its configuration"
    );
    let seen = engine.observe().await.unwrap();
    assert_eq!(seen.daemon, DaemonState::Running);
    let keys: Vec<_> = seen.sessions.iter().map(|x| x.key.clone()).collect();
    assert_eq!(keys, a.neighbors.keys().cloned().collect::<Vec<_>>());

    // A hand-broken live file is not "held", and the next apply repairs it.
    std::fs::write(&config.config_path, "protocol bgp rr { broken\n").unwrap();
    assert_eq!(engine.held().await.unwrap(), None);
    let report = engine.apply(&a, &plan(&a, None)).await.unwrap();
    assert!(report.changed, "{report:?}");
    assert_eq!(std::fs::read(&config.config_path).unwrap(), live_a);
    let pids = engine.daemon_pids();
    engine.stop(StopMode::Graceful).await.unwrap();
    assert_gone(&pids).await;
}

#[tokio::test]
async fn bird2_refused_config_leaves_the_old_one_running_and_is_rejected() {
    refused_config_leaves_the_old_one_running(BirdVersion::V2).await;
}

#[tokio::test]
async fn bird16_refused_config_leaves_the_old_one_running_and_is_rejected() {
    refused_config_leaves_the_old_one_running(BirdVersion::V1_6).await;
}

/// A new engine object (rrd restarted) holds what the old one applied and
/// sends no `configure` for an unchanged config — attached to a daemon run
/// by someone else, and when it starts the daemon itself from the live file.
async fn restarted_engine_holds_the_applied_config(version: BirdVersion) {
    init_logs();
    let s = slot(version, 3);
    let a = rr_config(s, &[2, 3, 4]);

    // Unmanaged: BIRD runs on its own (here: started by the test).
    let dir = tempfile::tempdir().unwrap();
    let external = bird_config(version, dir.path(), false);
    let mut daemons = Vec::new();
    let files = match version {
        BirdVersion::V2 => vec![(&external.binary, &external.config_path, &external.socket)],
        BirdVersion::V1_6 => vec![
            (&external.binary, &external.config_path, &external.socket),
            (
                &external.binary_v6,
                &external.config_path_v6,
                &external.socket_v6,
            ),
        ],
    };
    for (binary, cfg, socket) in files {
        std::fs::write(
            cfg,
            format!("router id {};\nprotocol device {{ }}\n", loopback(s, 1)),
        )
        .unwrap();
        daemons.push(spawn_bird(binary, cfg, socket).await);
    }
    let mut first = BirdEngine::new(external.clone());
    first.start(StartMode::Fresh).await.unwrap();
    assert_eq!(
        first.held().await.unwrap(),
        None,
        "a file rrd did not write is not held"
    );
    first.apply(&a, &plan(&a, None)).await.unwrap();
    drop(first);
    let before = last_reconfiguration(&external.socket).await;
    let mut second = BirdEngine::new(external.clone());
    second.start(StartMode::Fresh).await.unwrap();
    assert!(second
        .info()
        .version
        .is_some_and(|v| v.starts_with("BIRD ")));
    let held = second.held().await.unwrap();
    assert_eq!(held.as_ref(), Some(&a));
    let p = plan(&a, held.as_ref());
    assert!(p.is_empty());
    let report = second.apply(&a, &p).await.unwrap();
    assert!(!report.changed, "{report:?}");
    assert_eq!(
        last_reconfiguration(&external.socket).await,
        before,
        "no configure"
    );
    second.stop(StopMode::Graceful).await.unwrap();
    for d in &mut daemons {
        assert!(
            d.child.try_wait().unwrap().is_none(),
            "detaching leaves BIRD running"
        );
    }
    drop(daemons);

    // Managed: the new engine starts BIRD from the live file(s).
    let dir = tempfile::tempdir().unwrap();
    let managed = bird_config(version, dir.path(), true);
    let mut first = BirdEngine::new(managed.clone());
    first.start(StartMode::Fresh).await.unwrap();
    first.apply(&a, &plan(&a, None)).await.unwrap();
    let pids = first.daemon_pids();
    first.stop(StopMode::Graceful).await.unwrap();
    assert_gone(&pids).await;
    let mut second = BirdEngine::new(managed.clone());
    second.start(StartMode::Fresh).await.unwrap();
    assert_eq!(
        second.daemon_pids().len(),
        pids.len(),
        "started from the live file(s)"
    );
    assert_eq!(second.held().await.unwrap().as_ref(), Some(&a));
    let boot = last_reconfiguration(&managed.socket).await;
    let report = second.apply(&a, &plan(&a, Some(&a))).await.unwrap();
    assert!(!report.changed);
    assert_eq!(last_reconfiguration(&managed.socket).await, boot);
    let pids = second.daemon_pids();
    drop(second);
    assert_gone(&pids).await;
}

#[tokio::test]
async fn bird2_restarted_engine_holds_the_applied_config_and_configures_nothing() {
    restarted_engine_holds_the_applied_config(BirdVersion::V2).await;
}

#[tokio::test]
async fn bird16_restarted_engine_holds_the_applied_config_and_configures_nothing() {
    restarted_engine_holds_the_applied_config(BirdVersion::V1_6).await;
}

/// Sessions reach Established and are observed with route counts, the
/// client's graceful restart and the client flag; `stop(PreserveForwarding)`
/// ends BIRD without a NOTIFICATION (the client keeps the session's routes
/// in graceful-restart helper mode); `start(Restarting)` brings it back.
async fn established_session_and_graceful_stop(version: BirdVersion) {
    init_logs();
    let s = slot(version, 4);
    let dir = tempfile::tempdir().unwrap();
    let client_cfg = dir.path().join("client.conf");
    std::fs::write(&client_cfg, client_config(s)).unwrap();
    let client_sock = dir.path().join("client.ctl");
    let _client = spawn_bird(&bird2_binary(), &client_cfg, &client_sock).await;

    let config = bird_config(version, dir.path(), true);
    let mut engine = BirdEngine::new(config.clone());
    engine.start(StartMode::Fresh).await.unwrap();
    let a = rr_config(s, &[2, 3]);
    engine.apply(&a, &plan(&a, None)).await.unwrap();
    let key = a.neighbors.keys().next().unwrap().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let seen = loop {
        let seen = engine.observe().await.unwrap();
        let up = seen.sessions.iter().any(|x| {
            x.key == key && x.state == SessionState::Established && x.routes_received == Some(1)
        });
        if up {
            break seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no Established session with one route: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let up = seen.sessions.iter().find(|x| x.key == key).unwrap();
    assert_eq!(up.address, std::net::IpAddr::V4(loopback(s, 2)));
    assert_eq!(up.remote_as, Some(rrd_core::Asn(64512)));
    assert_eq!(up.rr_client, Some(true));
    assert_eq!(up.peer_graceful_restart, [rrd_core::Family::Ipv4].into());
    let other = seen.sessions.iter().find(|x| x.key != key).unwrap();
    assert_ne!(other.state, SessionState::Established);

    let pids = engine.daemon_pids();
    engine.stop(StopMode::PreserveForwarding).await.unwrap();
    assert_gone(&pids).await;
    wait_until(
        "the client to hold the RR's session in graceful restart",
        Duration::from_secs(15),
        || async {
            let r = bird_command(&client_sock, "show protocols all to_rr").await;
            r.lines
                .iter()
                .any(|(_, t)| t.contains("Neighbor graceful restart active"))
        },
    )
    .await;

    // A restarting BIRD starts with the first apply, so that `-R` covers
    // every session of the file it reads at start.
    engine.start(StartMode::Restarting).await.unwrap();
    assert!(engine.daemon_pids().is_empty());
    assert_eq!(
        engine.held().await.unwrap(),
        None,
        "not running: holds nothing"
    );
    engine.apply(&a, &plan(&a, None)).await.unwrap();
    assert!(!engine.daemon_pids().is_empty());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    // The other neighbor never answers: BIRD holds back its routes (from
    // the client too) until that one's End-of-RIB or `graceful restart
    // wait`, and says so per session.
    loop {
        let seen = engine.observe().await.unwrap();
        let recovery = |k: &rrd_core::PeerKey| {
            seen.sessions
                .iter()
                .find(|x| &x.key == k)
                .map(|x| (x.state, x.recovery))
        };
        let other = a.neighbors.keys().find(|k| **k != key).unwrap();
        if recovery(&key) == Some((SessionState::Established, Recovery::RoutesDeferred)) {
            assert_eq!(
                recovery(other).map(|r| r.1),
                Some(Recovery::AwaitingEndOfRib),
                "{seen:#?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "session did not come back: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pids = engine.daemon_pids();
    engine.stop(StopMode::Graceful).await.unwrap();
    assert_gone(&pids).await;
}

#[tokio::test]
async fn bird2_observes_an_established_client_and_stops_without_notification() {
    established_session_and_graceful_stop(BirdVersion::V2).await;
}

#[tokio::test]
async fn bird16_observes_an_established_client_and_stops_without_notification() {
    established_session_and_graceful_stop(BirdVersion::V1_6).await;
}

#[tokio::test]
async fn unmanaged_engine_checks_the_daemons_version_and_reports_an_absent_socket() {
    init_logs();
    let s = slot(BirdVersion::V2, 5);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bird.conf");
    let me = loopback(s, 1);
    std::fs::write(&cfg, format!("router id {me};\nprotocol device {{ }}\n")).unwrap();
    let socket = dir.path().join("bird.ctl");

    let mut absent = BirdEngine::new(bird_config(BirdVersion::V2, dir.path(), false));
    let seen = absent.observe().await.unwrap();
    assert!(matches!(seen.daemon, DaemonState::Down { .. }), "{seen:?}");
    let e = absent.start(StartMode::Fresh).await.unwrap_err();
    assert!(
        matches!(e, EngineError::Unreachable { .. }) && e.is_retryable(),
        "{e}"
    );

    let _bird2 = spawn_bird(&bird2_binary(), &cfg, &socket).await;
    let mut wrong = BirdEngine::new(bird_config(BirdVersion::V1_6, dir.path(), false));
    let e = wrong.start(StartMode::Fresh).await.unwrap_err();
    assert!(matches!(e, EngineError::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("BIRD 2.0.12"), "{e}");

    let mut right = BirdEngine::new(bird_config(BirdVersion::V2, dir.path(), false));
    right.start(StartMode::Fresh).await.unwrap();
    assert_eq!(right.info().version.as_deref(), Some("BIRD 2.0.12"));
    let e = right.start(StartMode::Restarting).await.unwrap_err();
    assert!(matches!(e, EngineError::Unsupported { .. }), "{e}");

    // A managed engine neither starts a second daemon on a live socket nor
    // adopts one it has no PID file for...
    let managed_config = bird_config(BirdVersion::V2, dir.path(), true);
    let mut managed = BirdEngine::new(managed_config.clone());
    let e = managed.start(StartMode::Fresh).await.unwrap_err();
    assert!(e.to_string().contains("already answers"), "{e}");
    assert!(e.to_string().contains("names no daemon of rrd's"), "{e}");
    assert!(managed.daemon_pids().is_empty());
    drop(managed);
    // ...or whose PID file names another process...
    let pid_file = format!("{}.rrd.pid", managed_config.config_path.display());
    std::fs::write(&pid_file, "1\n").unwrap();
    let mut managed = BirdEngine::new(managed_config.clone());
    let e = managed.start(StartMode::Fresh).await.unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("pid {} serves it, but", _bird2.pid())),
        "{e}"
    );
    assert!(managed.daemon_pids().is_empty());
    drop(managed);
    // ...or of another release, even with the right PID file.
    std::fs::write(&pid_file, format!("{}\n", _bird2.pid())).unwrap();
    let mut wrong = BirdEngine::new(bird_config(BirdVersion::V1_6, dir.path(), true));
    let e = wrong.start(StartMode::Fresh).await.unwrap_err();
    assert!(matches!(e, EngineError::Unsupported { .. }), "{e}");
    assert!(wrong.daemon_pids().is_empty());
}

#[tokio::test]
async fn a_managed_daemon_that_dies_is_restarted() {
    init_logs();
    let s = slot(BirdVersion::V2, 6);
    let dir = tempfile::tempdir().unwrap();
    let config = bird_config(BirdVersion::V2, dir.path(), true);
    let mut engine = BirdEngine::new(config.clone());
    engine.start(StartMode::Fresh).await.unwrap();
    let a = rr_config(s, &[2]);
    engine.apply(&a, &plan(&a, None)).await.unwrap();
    let first = engine.daemon_pids();
    assert_eq!(first.len(), 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first[0] as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until("a new daemon", Duration::from_secs(10), || {
        let pids = engine.daemon_pids();
        let old = first[0];
        async move { pids.len() == 1 && pids[0] != old }
    })
    .await;
    wait_until(
        "the restarted daemon's socket",
        Duration::from_secs(10),
        || async {
            rrd_engine_bird::socket::BirdSocket::connect(&config.socket)
                .await
                .is_ok()
        },
    )
    .await;
    assert_eq!(engine.held().await.unwrap(), Some(a));
    assert_eq!(
        engine.daemon_restarts(),
        1,
        "the runtime's rrd_daemon_restarts_total counts this"
    );
    let pids = engine.daemon_pids();
    drop(engine);
    assert_gone(&pids).await;
}

/// The cheap look (`observe_states`: `show protocols`, no `all`) follows a
/// session up and down as fast as the full one, keeps the detail of the
/// last full look, reads again what only an established session shows
/// once it comes up or goes down, and shows a protocol added since with
/// its detail.
async fn states_only_looks(version: BirdVersion) {
    init_logs();
    let s = slot(version, 7);
    let dir = tempfile::tempdir().unwrap();
    let client_cfg = dir.path().join("client.conf");
    std::fs::write(&client_cfg, client_config(s)).unwrap();
    let client_sock = dir.path().join("client.ctl");
    let _client = spawn_bird(&bird2_binary(), &client_cfg, &client_sock).await;

    let mut engine = BirdEngine::new(bird_config(version, dir.path(), true));
    engine.start(StartMode::Fresh).await.unwrap();
    let a = rr_config(s, &[2, 3]);
    engine.apply(&a, &plan(&a, None)).await.unwrap();
    let key = a.neighbors.keys().next().unwrap().clone();
    let state_of = |o: &rrd_core::Observation| {
        o.sessions
            .iter()
            .find(|x| x.key == key)
            .map(|x| (x.state, x.address, x.routes_received))
    };
    let first = engine.observe().await.unwrap();
    assert_eq!(first.sessions.len(), 2, "{first:#?}");
    let first_state = state_of(&first).unwrap().0;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let o = engine.observe_states().await.unwrap();
        if state_of(&o).is_some_and(|s| s.0 == SessionState::Established) {
            let (_, address, _) = state_of(&o).unwrap();
            assert_eq!(address, std::net::IpAddr::V4(loopback(s, 2)));
            // BIRD shows whether a session is a route-reflector client
            // only once it is up: the full look before it came up could
            // not say, the cheap look after must.
            let up = o.sessions.iter().find(|x| x.key == key).unwrap();
            assert_eq!(
                up.rr_client,
                Some(true),
                "first full look saw {first_state:?}: {o:#?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not Established: {o:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The full look reads the counts; the cheap ones keep them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while state_of(&engine.observe().await.unwrap()).and_then(|s| s.2) != Some(1) {
        assert!(tokio::time::Instant::now() < deadline, "no route counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let o = engine.observe_states().await.unwrap();
    assert_eq!(state_of(&o).unwrap().2, Some(1), "{o:#?}");

    // The client closes its session: the next cheap look shows it.
    let r = bird_command(&client_sock, "disable to_rr").await;
    assert!(!r.is_error(), "{r:?}");
    let down_at = tokio::time::Instant::now();
    loop {
        let o = engine.observe_states().await.unwrap();
        if state_of(&o).is_some_and(|s| s.0 != SessionState::Established) {
            // BIRD 2 shows no count for it, BIRD 1.6 shows 0.
            assert_ne!(
                state_of(&o).unwrap().2,
                Some(1),
                "the count of a session that went down is not kept: {o:#?}"
            );
            break;
        }
        assert!(
            down_at.elapsed() < Duration::from_secs(1),
            "still Established after 1 s: {o:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "down seen by a states-only look after {:?}",
        down_at.elapsed()
    );

    // A protocol rrd adds is in the next cheap look, with its address.
    let b = rr_config(s, &[2, 3, 4]);
    engine.apply(&b, &plan(&b, Some(&a))).await.unwrap();
    let o = engine.observe_states().await.unwrap();
    assert_eq!(o.sessions.len(), 3, "{o:#?}");
    assert!(
        o.sessions
            .iter()
            .any(|x| x.address == std::net::IpAddr::V4(loopback(s, 4))),
        "{o:#?}"
    );
    let pids = engine.daemon_pids();
    engine.stop(StopMode::Graceful).await.unwrap();
    assert_gone(&pids).await;
}

#[tokio::test]
async fn bird2_states_only_looks_follow_sessions_and_keep_the_last_counts() {
    states_only_looks(BirdVersion::V2).await;
}

#[tokio::test]
async fn bird16_states_only_looks_follow_sessions_and_keep_the_last_counts() {
    states_only_looks(BirdVersion::V1_6).await;
}
