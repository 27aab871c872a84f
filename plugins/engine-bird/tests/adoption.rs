//! Restarting rrd is hitless with `manage_process = true`: the engine is
//! dropped, BIRD keeps running with its sessions, and the next engine
//! adopts that very process, holds the applied config and configures
//! nothing. Also: the adopted daemon is restarted when it dies, a second
//! engine cannot manage it at the same time, and `stop_daemon_on_exit`
//! stops it on drop. Real BIRD 2.0.12 and 1.6.8 RRs, a BIRD 2 client;
//! needs root. Daemons that outlive their engine are killed by PID when
//! the test ends ([`PidGuard`]).

mod support;

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rrd_core::{plan, BgpEngine, PeerKey, SessionState, StartMode};
use rrd_engine_bird::{BirdConfig, BirdEngine, BirdVersion};
use support::*;

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "rrd_engine_bird=info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// The RR's session `key` once it is Established with one route: its
/// `since` as the RR reports it.
async fn established(engine: &mut BirdEngine, key: &PeerKey) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let seen = engine.observe().await.unwrap();
        if let Some(s) = seen.sessions.iter().find(|s| {
            &s.key == key && s.state == SessionState::Established && s.routes_received == Some(1)
        }) {
            return s.since.clone().expect("since");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no Established session with one route: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn pid_file(path: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(BirdConfig::pid_path(path)).ok()?;
    text.trim().parse().ok()
}

async fn rrd_restart_is_hitless(version: BirdVersion, slot: u8) {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let client_cfg = dir.path().join("client.conf");
    std::fs::write(&client_cfg, client_config(slot)).unwrap();
    let client_sock = dir.path().join("client.ctl");
    let _client = spawn_bird(&bird2_binary(), &client_cfg, &client_sock).await;

    let mut config = bird_config(version, dir.path(), true);
    config.stop_daemon_on_exit = false;
    let mut leftovers = PidGuard::default();
    let a = rr_config(slot, &[2, 3]);
    let key = a.neighbors.keys().next().unwrap().clone();

    // rrd #1 starts BIRD, applies, the client's session comes up.
    let mut first = BirdEngine::new(config.clone());
    first.start(StartMode::Fresh).await.unwrap();
    // No daemon before the first apply, yet the files are claimed.
    let e = BirdEngine::new(config.clone())
        .start(StartMode::Fresh)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("another rrd already manages"), "{e}");
    first.apply(&a, &plan(&a, None)).await.unwrap();
    let pids = first.daemon_pids();
    leftovers.add(&pids);
    assert_eq!(pids.len(), if version == BirdVersion::V2 { 1 } else { 2 });
    assert_eq!(pid_file(&config.config_path), Some(pids[0]));
    let since = established(&mut first, &key).await;
    let client_since = client_session(&client_sock).await.since;

    // rrd #1 exits: BIRD stays, so does the session.
    drop(first);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for pid in &pids {
        assert!(!process_gone(*pid), "BIRD {pid} must outlive the engine");
    }
    let row = client_session(&client_sock).await;
    assert_eq!(row.info, "Established", "{row:?}");
    assert_same_instant(&row.since, &client_since, "the session was not reset");
    let configured = last_reconfiguration(&config.socket).await;

    // rrd #2 adopts the very same process(es) and changes nothing.
    let mut second = BirdEngine::new(config.clone());
    second.start(StartMode::Fresh).await.unwrap();
    assert_eq!(second.daemon_pids(), pids, "adopted, not restarted");
    let held = second.held().await.unwrap();
    assert_eq!(held.as_ref(), Some(&a));
    let report = second.apply(&a, &plan(&a, held.as_ref())).await.unwrap();
    assert!(!report.changed, "{report:?}");
    // Even a full plan (as after a lost record) sends no configure: the
    // rendered file is the live one and it is loaded.
    let report = second.apply(&a, &plan(&a, None)).await.unwrap();
    assert!(!report.changed, "{report:?}");
    assert_eq!(
        last_reconfiguration(&config.socket).await,
        configured,
        "no configure"
    );
    assert_same_instant(
        &established(&mut second, &key).await,
        &since,
        "the RR side was reset",
    );
    assert_same_instant(
        &client_session(&client_sock).await.since,
        &client_since,
        "the client side was reset",
    );

    // Nobody else may manage it meanwhile.
    let mut intruder = BirdEngine::new(config.clone());
    let e = intruder.start(StartMode::Fresh).await.unwrap_err();
    assert!(e.to_string().contains("another rrd already manages"), "{e}");
    // Not retried: the second rrd exits (issue 13).
    assert!(!e.is_retryable(), "{e}");
    drop(intruder);

    // The adopted daemon (not rrd #2's child) is restarted when it dies.
    kill(Pid::from_raw(pids[0] as i32), Signal::SIGKILL).unwrap();
    let (old, count) = (pids[0], pids.len());
    wait_until("a new daemon", Duration::from_secs(15), || {
        let now = second.daemon_pids();
        async move { now.len() == count && now[0] != old }
    })
    .await;
    let restarted = second.daemon_pids();
    leftovers.add(&restarted);
    assert_eq!(pid_file(&config.config_path), Some(restarted[0]));
    wait_until(
        "the restarted daemon's socket",
        Duration::from_secs(10),
        || {
            let socket = config.socket.clone();
            async move {
                rrd_engine_bird::socket::BirdSocket::connect(&socket)
                    .await
                    .is_ok()
            }
        },
    )
    .await;
    assert_eq!(second.held().await.unwrap().as_ref(), Some(&a));
    established(&mut second, &key).await;

    // rrd #2 exits too; rrd #3 with stop_daemon_on_exit adopts the daemon
    // #2 started, and stops it when it is dropped.
    drop(second);
    let mut stopping = config.clone();
    stopping.stop_daemon_on_exit = true;
    let mut third = BirdEngine::new(stopping);
    third.start(StartMode::Fresh).await.unwrap();
    assert_eq!(third.daemon_pids(), restarted);
    assert_eq!(third.held().await.unwrap().as_ref(), Some(&a));
    drop(third);
    assert_gone(&restarted).await;
    assert_eq!(pid_file(&config.config_path), None, "no daemon recorded");
    wait_until(
        "the client to see the RR's Cease",
        Duration::from_secs(10),
        || async { client_session(&client_sock).await.info != "Established" },
    )
    .await;
}

#[tokio::test]
async fn bird2_engine_dropped_and_recreated_adopts_the_running_daemon_and_configures_nothing() {
    rrd_restart_is_hitless(BirdVersion::V2, 1).await;
}

#[tokio::test]
async fn bird16_engine_dropped_and_recreated_adopts_the_running_daemons_and_configures_nothing() {
    rrd_restart_is_hitless(BirdVersion::V1_6, 2).await;
}

/// rrd was SIGKILLed (nothing ran its drop): the BIRD it started runs on,
/// its PID in the PID file, no lock held. That daemon is adopted; without
/// the PID file nothing proves it is rrd's, and it is refused and left
/// alone. The adopted daemon's PID serves `StopMode::PreserveForwarding`
/// (BIRD 2: `graceful restart`, then its exit is awaited through the pidfd;
/// BIRD 1.6: SIGKILL). The daemons are started by the test, as rrd would
/// start them.
async fn a_daemon_left_by_a_killed_rrd_is_adopted(version: BirdVersion, slot: u8) {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let config = bird_config(version, dir.path(), true);
    let a = rr_config(slot, &[2]);
    for (path, text) in BirdEngine::new(config.clone()).render_files(&a).unwrap() {
        std::fs::write(path, text).unwrap();
    }
    let mut sides = vec![(&config.binary, &config.config_path, &config.socket)];
    if version == BirdVersion::V1_6 {
        sides.push((&config.binary_v6, &config.config_path_v6, &config.socket_v6));
    }
    let mut daemons = Vec::new();
    for (binary, cfg, socket) in &sides {
        daemons.push(spawn_bird(binary, cfg, socket).await);
    }
    let pids: Vec<u32> = daemons.iter().map(ChildGuard::pid).collect();

    let mut engine = BirdEngine::new(config.clone());
    let e = engine.start(StartMode::Fresh).await.unwrap_err();
    assert!(e.to_string().contains("already answers"), "{e}");
    assert!(engine.daemon_pids().is_empty());
    drop(engine);
    for d in &mut daemons {
        assert!(d.child.try_wait().unwrap().is_none(), "left alone");
    }

    for ((_, cfg, _), pid) in sides.iter().zip(&pids) {
        std::fs::write(BirdConfig::pid_path(cfg), format!("{pid}\n")).unwrap();
    }
    let mut engine = BirdEngine::new(config.clone());
    engine.start(StartMode::Fresh).await.unwrap();
    assert_eq!(engine.daemon_pids(), pids);
    let seen = engine.observe().await.unwrap();
    assert_eq!(seen.daemon, rrd_core::DaemonState::Running);
    assert_eq!(seen.sessions.len(), 1);
    engine
        .stop(rrd_core::StopMode::PreserveForwarding)
        .await
        .unwrap();
    assert!(engine.daemon_pids().is_empty());
    assert_gone(&pids).await;
}

#[tokio::test]
async fn bird2_daemon_left_by_a_killed_rrd_is_adopted_only_with_its_pid_file() {
    a_daemon_left_by_a_killed_rrd_is_adopted(BirdVersion::V2, 3).await;
}

#[tokio::test]
async fn bird16_daemons_left_by_a_killed_rrd_are_adopted_only_with_their_pid_files() {
    a_daemon_left_by_a_killed_rrd_is_adopted(BirdVersion::V1_6, 4).await;
}

/// BIRD prints "since" converting its monotonic clock at print time: the
/// same instant may read a millisecond (BIRD 2) or a second (1.6) apart.
fn assert_same_instant(a: &str, b: &str, what: &str) {
    assert!(
        rrd_lab::since::same_instant(a, b),
        "{what}: since {b} -> {a}"
    );
}

/// The BIRD processes running `config` (by their `-c`), in PID order.
fn birds_on(config: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            rrd_process::cmdline(*pid).is_some_and(|args| {
                rrd_process::arg_after(&args, "-c").map(Path::new) == Some(config)
            })
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Issue 13: BIRD's control socket deleted while rrd ran, then rrd
/// restarted (`stop_daemon_on_exit = false`). The PID file names a live
/// BIRD on these files: the new engine starts no second BIRD beside it
/// (which would orphan the one holding the real sessions); it reports the
/// PID, the PID file and the socket, and retries. Once that BIRD is gone,
/// the engine starts one as usual.
#[tokio::test]
async fn a_managed_bird_whose_socket_was_deleted_gets_no_sibling() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let mut config = bird_config(BirdVersion::V2, dir.path(), true);
    config.stop_daemon_on_exit = false;
    let mut leftovers = PidGuard::default();
    let a = rr_config(5, &[2]);
    let mut first = BirdEngine::new(config.clone());
    first.start(StartMode::Fresh).await.unwrap();
    first.apply(&a, &plan(&a, None)).await.unwrap();
    let pids = first.daemon_pids();
    leftovers.add(&pids);
    drop(first);
    std::fs::remove_file(&config.socket).unwrap();

    let mut second = BirdEngine::new(config.clone());
    let e = second.start(StartMode::Fresh).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains(&format!("BIRD pid {}", pids[0])), "{text}");
    assert!(
        text.contains(&config.socket.display().to_string()),
        "{text}"
    );
    assert!(
        text.contains(
            &BirdConfig::pid_path(&config.config_path)
                .display()
                .to_string()
        ),
        "{text}"
    );
    assert!(e.is_retryable(), "{e}");
    // The loop's next step, an apply, is refused the same way.
    let e = second.apply(&a, &plan(&a, None)).await.unwrap_err();
    assert!(
        e.to_string().contains("will not start a second BIRD"),
        "{e}"
    );
    leftovers.add(&second.daemon_pids());
    assert_eq!(birds_on(&config.config_path), pids, "no second BIRD");

    // The orphan goes: the engine starts BIRD again.
    kill(Pid::from_raw(pids[0] as i32), Signal::SIGKILL).unwrap();
    assert_gone(&pids).await;
    second.start(StartMode::Fresh).await.unwrap();
    second.apply(&a, &plan(&a, None)).await.unwrap();
    let new = second.daemon_pids();
    leftovers.add(&new);
    assert_eq!(new.len(), 1);
    assert_eq!(birds_on(&config.config_path), new);
}
