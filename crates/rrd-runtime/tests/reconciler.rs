//! The reconciliation loop against the in-memory fakes, in paused tokio
//! time: every timing is virtual, nothing sleeps for real.

use std::time::Duration;

use rrd_core::testing::fakes::{FakeEngine, FakeSource, FakeSourceHandle};
use rrd_core::testing::fixtures;
use rrd_core::{
    compute, Node, RrIdentity, SessionState, SourceEvent, SourceStatus, TopologyChange,
};
use rrd_runtime::{Control, ControlHandle, Reconciler, RuntimeSettings, Status};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn seed_rr() -> RrIdentity {
    RrIdentity::v4("172.17.42.40".parse().unwrap())
}

struct Running {
    source: FakeSourceHandle,
    engine: FakeEngine,
    handle: ControlHandle,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

fn start(engine: FakeEngine, settings: RuntimeSettings) -> Running {
    let (source, script) = FakeSource::new();
    let reconciler = Reconciler::new(source, engine.clone(), seed_rr(), settings);
    let handle = reconciler.handle();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        reconciler
            .run(async {
                let _ = stopped.await;
            })
            .await
            .expect("reconciler ended with an error");
    });
    Running {
        source: script,
        engine,
        handle,
        stop: Some(stop),
        task,
    }
}

impl Running {
    async fn wait_for(&self, what: &str, pred: impl Fn(&Status) -> bool) -> Status {
        let mut rx = self.handle.subscribe();
        let found = tokio::time::timeout(Duration::from_secs(3600), rx.wait_for(|s| pred(s)))
            .await
            .ok()
            .and_then(|r| r.ok())
            .map(|s| s.clone());
        found.unwrap_or_else(|| {
            panic!(
                "timed out waiting for {what}; status: {:#?}",
                self.handle.status()
            )
        })
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

fn desired_seed() -> rrd_core::RrConfig {
    compute(&fixtures::seed(), &seed_rr()).unwrap().config
}

#[tokio::test(start_paused = true)]
async fn nothing_is_applied_before_the_first_complete_read() {
    let r = start(FakeEngine::default(), RuntimeSettings::default());
    r.source
        .emit(SourceEvent::Status(SourceStatus::Unreachable {
            error: "connection refused".into(),
            retry_in: Duration::from_secs(1),
        }));
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(r.engine.state().applies.is_empty());
    assert!(r.engine.state().held.is_none());
    assert!(!r.handle.status().ready());
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn first_snapshot_is_applied_and_the_runtime_becomes_ready() {
    let r = start(FakeEngine::default(), RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    let s = r.wait_for("ready", Status::ready).await;
    assert_eq!(s.desired.len(), 3);
    assert_eq!(r.engine.state().held.as_ref(), Some(&desired_seed()));
    assert_eq!(r.engine.state().applies.len(), 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn debounce_coalesces_a_burst_of_changes_into_one_apply() {
    let r = start(FakeEngine::default(), RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    for i in 0..5u8 {
        let mut n = Node::new(format!("extra-{i}"));
        n.ipv4 = format!("172.17.42.{}", 50 + i).parse().ok();
        r.source
            .emit(SourceEvent::Changes(vec![TopologyChange::UpsertNode(n)]));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r.wait_for("8 sessions", |s| s.desired.len() == 8 && s.in_sync)
        .await;
    assert_eq!(
        r.engine.state().applies.len(),
        2,
        "initial apply + one for the whole burst"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_change_after_a_quiet_period_is_applied_at_once() {
    let r = start(FakeEngine::default(), RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut n = Node::new("late");
    n.ipv4 = "172.17.42.60".parse().ok();
    let written = tokio::time::Instant::now();
    r.source
        .emit(SourceEvent::Changes(vec![TopologyChange::UpsertNode(n)]));
    r.wait_for("4 sessions", |s| s.desired.len() == 4 && s.in_sync)
        .await;
    assert_eq!(
        written.elapsed(),
        Duration::ZERO,
        "no debounce after a quiet period"
    );
    assert_eq!(r.engine.state().applies.len(), 2);
    assert_eq!(r.engine.state().applies[1].add.len(), 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_burst_after_a_quiet_period_makes_few_applies() {
    let r = start(FakeEngine::default(), RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    for i in 0..1000u32 {
        let mut n = Node::new(format!("burst-{i}"));
        n.ipv4 = Some(std::net::Ipv4Addr::from(0xac11_0000 + 1000 + i));
        r.source
            .emit(SourceEvent::Changes(vec![TopologyChange::UpsertNode(n)]));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    r.wait_for("1003 sessions", |s| s.desired.len() == 1003 && s.in_sync)
        .await;
    // The initial apply, the burst's first change at once, then one every
    // debounce_max (500 ms) while the burst lasts and the rest together.
    let applies = r.engine.state().applies.len();
    assert!(
        (3..=5).contains(&applies),
        "initial apply, the burst's first change at once, a few batches: {applies}"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn changes_that_touch_no_session_leave_the_engine_alone() {
    let (source, script) = FakeSource::new();
    let engine = FakeEngine::default();
    let reconciler = Reconciler::new(
        source,
        engine.clone(),
        RrIdentity::v4("198.51.100.11".parse().unwrap()),
        RuntimeSettings::default(),
    );
    let handle = reconciler.handle();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        reconciler
            .run(async {
                let _ = stopped.await;
            })
            .await
            .expect("reconciler ended with an error");
    });
    let r = Running {
        source: script,
        engine,
        handle,
        stop: Some(stop),
        task,
    };
    r.source.emit(SourceEvent::Snapshot(fixtures::racks()));
    let before = r.wait_for("ready", Status::ready).await;
    // N9 is a client of rack 3's RRs, not of 198.51.100.11.
    for i in 0..100u8 {
        let mut n = Node::new("N9");
        n.ipv4 = format!("198.51.100.{}", 150 + i % 50).parse().ok();
        r.source
            .emit(SourceEvent::Changes(vec![TopologyChange::UpsertNode(n)]));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = r.handle.status();
    assert_eq!(r.engine.state().applies.len(), 1, "only the first apply");
    assert_eq!(after.applies.changed, before.applies.changed);
    assert_eq!(
        after.applies.noop, before.applies.noop,
        "not even a reconcile"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn restart_against_an_unchanged_topology_changes_nothing() {
    let engine = FakeEngine::default();
    engine.state().held = Some(desired_seed());
    let r = start(engine, RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    let s = r.wait_for("ready", Status::ready).await;
    assert_eq!(s.applies.changed, 0);
    assert!(r.engine.state().applies.is_empty());
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn datastore_outage_keeps_the_last_applied_configuration() {
    let r = start(FakeEngine::default(), RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    r.source
        .emit(SourceEvent::Status(SourceStatus::Unreachable {
            error: "etcd down".into(),
            retry_in: Duration::from_secs(1),
        }));
    let s = r.wait_for("not ready", |s| !s.source.connected).await;
    assert!(!s.ready());
    tokio::time::sleep(Duration::from_secs(900)).await; // several resyncs
    assert_eq!(r.engine.state().held.as_ref(), Some(&desired_seed()));
    assert_eq!(r.engine.state().applies.len(), 1);
    r.source.emit(SourceEvent::Status(SourceStatus::Connected));
    r.wait_for("ready again", Status::ready).await;
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn mass_removal_is_held_until_the_operator_allows_it() {
    let mut settings = RuntimeSettings::default();
    settings.mass_removal.min_sessions = 2;
    settings.mass_removal.release_after = Duration::ZERO;
    let r = start(FakeEngine::default(), settings);
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    r.source.emit(SourceEvent::Changes(vec![
        TopologyChange::RemoveNode("kube-node1".into()),
        TopologyChange::RemoveNode("kube-node2".into()),
    ]));
    let s = r
        .wait_for("held", |s| s.pending_mass_removal.is_some())
        .await;
    assert_eq!(s.pending_mass_removal.unwrap().removes, 2);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        r.engine.state().held.as_ref().unwrap().neighbors.len(),
        3,
        "still held after an hour"
    );
    assert!(r.handle.send(Control::AllowMassRemoval).await);
    r.wait_for("applied", |s| s.ready() && s.desired.len() == 1)
        .await;
    assert_eq!(r.engine.state().held.as_ref().unwrap().neighbors.len(), 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn mass_removal_is_released_once_stable_for_the_configured_time() {
    let mut settings = RuntimeSettings::default();
    settings.mass_removal.min_sessions = 2;
    settings.mass_removal.release_after = Duration::from_secs(60);
    let r = start(FakeEngine::default(), settings);
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    r.source.emit(SourceEvent::Changes(vec![
        TopologyChange::RemoveNode("kube-node1".into()),
        TopologyChange::RemoveNode("kube-node2".into()),
    ]));
    r.wait_for("held", |s| s.pending_mass_removal.is_some())
        .await;
    let before = tokio::time::Instant::now();
    r.wait_for("released", |s| s.ready() && s.desired.len() == 1)
        .await;
    assert!(
        before.elapsed() >= Duration::from_secs(55),
        "released after {:?}",
        before.elapsed()
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn failed_apply_is_retried_with_backoff() {
    let engine = FakeEngine::default();
    engine.state().fail_next_apply = true;
    let r = start(engine, RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    let s = r.wait_for("ready after retry", Status::ready).await;
    assert_eq!(s.applies.failed, 1);
    assert_eq!(r.engine.state().held.as_ref(), Some(&desired_seed()));
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn rejected_configuration_is_reported_and_the_old_one_kept() {
    let r = start(FakeEngine::default(), RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    r.engine.state().reject = true;
    let mut n = Node::new("kube-node3");
    n.ipv4 = "172.17.42.33".parse().ok();
    r.source
        .emit(SourceEvent::Changes(vec![TopologyChange::UpsertNode(n)]));
    let s = r
        .wait_for("rejected", |s| s.engine.rejected.is_some())
        .await;
    assert!(!s.ready());
    assert_eq!(r.engine.state().held.as_ref(), Some(&desired_seed()));
    let metrics = r.handle.metrics();
    assert!(
        metrics.contains("rrd_engine_config_rejected 1"),
        "{metrics}"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn daemon_restarted_empty_is_recreated_at_the_next_observation() {
    let r = start(FakeEngine::default(), RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    r.engine.forget_everything();
    let before = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(10)).await;
    loop {
        if r.engine.state().held.as_ref() == Some(&desired_seed()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            before.elapsed() < Duration::from_secs(5),
            "not re-created within 5 s"
        );
    }
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn rejected_datastore_entries_are_counted() {
    let r = start(FakeEngine::default(), RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.source.emit(SourceEvent::Rejected {
        key: "/calico/bgp/v1/rr_v4/1.2.3.4".into(),
        reason: "invalid JSON".into(),
    });
    let s = r
        .wait_for("counted", |s| s.source.rejected_entries == 1)
        .await;
    assert!(s.source.last_rejection.unwrap().contains("rr_v4/1.2.3.4"));
    r.wait_for("ready", Status::ready).await;
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn unreachable_daemon_makes_the_runtime_not_ready_until_it_is_back() {
    let r = start(FakeEngine::default(), RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    r.engine.state().down = true;
    let s = r.wait_for("not ready", |s| !s.ready()).await;
    assert!(s.engine.daemon.starts_with("down"), "{}", s.engine.daemon);
    assert!(s.sessions.is_empty());
    r.engine.state().down = false;
    r.engine.forget_everything();
    r.wait_for("ready again", Status::ready).await;
    assert_eq!(r.engine.state().held.as_ref(), Some(&desired_seed()));
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_session_added_by_hand_is_drift_reported_then_repaired_within_the_resync_interval() {
    let settings = RuntimeSettings::default();
    let resync = settings.resync_interval;
    let r = start(FakeEngine::default(), settings);
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    let by_hand = {
        let mut n = desired_seed().neighbors.values().next().unwrap().clone();
        n.address = "198.51.100.99".parse().unwrap();
        n
    };
    let key = rrd_core::PeerKey("by_hand".into());
    r.engine
        .state()
        .held
        .as_mut()
        .unwrap()
        .neighbors
        .insert(key.clone(), by_hand);
    let seen_at = tokio::time::Instant::now();
    let s = r.wait_for("drift", |s| s.drift.is_some()).await;
    let drift = &s.drift.as_ref().unwrap().drift;
    assert_eq!(drift.unexpected, ["by_hand (198.51.100.99)"]);
    assert!(!s.in_sync && !s.ready(), "drift is not in sync: {s:#?}");
    let metrics = r.handle.metrics();
    assert!(
        metrics.contains("rrd_drift_sessions{kind=\"unexpected\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("role=\"unmanaged\""),
        "the hand-added session has per-peer series: {metrics}"
    );
    let s = r
        .wait_for("drift repaired", |s| s.drift.is_none() && s.ready())
        .await;
    assert!(
        seen_at.elapsed() <= resync + Duration::from_secs(2),
        "repaired after {:?}",
        seen_at.elapsed()
    );
    assert!(!r
        .engine
        .state()
        .held
        .as_ref()
        .unwrap()
        .neighbors
        .contains_key(&key));
    assert!(s.sessions.iter().all(|x| x.key != key));
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_huge_rejected_value_is_echoed_truncated_and_forgotten_once_its_key_is_gone() {
    let r = start(FakeEngine::default(), RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    let key = "/calico/bgp/v1/host/n1/ip_addr_v4".to_owned();
    let other = "/calico/bgp/v1/rr_v4/1.2.3.4".to_owned();
    r.source.emit(SourceEvent::Rejected {
        key: other.clone(),
        reason: "invalid JSON".into(),
    });
    r.source.emit(SourceEvent::Rejected {
        key: key.clone(),
        reason: format!("{:?} is not an IPv4 address", "1".repeat(1 << 20)),
    });
    let s = r
        .wait_for("both counted", |s| s.source.rejected_entries == 2)
        .await;
    let shown = s.source.last_rejection.expect("a rejection shown");
    assert!(shown.starts_with(&key), "{shown:.100}");
    assert!(shown.len() < 1024, "{} bytes in status", shown.len());
    assert!(shown.contains("more bytes)"), "{shown}");
    // The key is deleted: its rejection goes; the older one is shown again.
    r.source.emit(SourceEvent::Resolved { key: key.clone() });
    let s = r
        .wait_for("forgotten", |s| {
            !s.source
                .last_rejection
                .as_deref()
                .is_some_and(|l| l.starts_with(&key))
        })
        .await;
    assert_eq!(
        s.source.last_rejection.as_deref(),
        Some(format!("{other}: invalid JSON").as_str())
    );
    r.source.emit(SourceEvent::Resolved { key: other });
    r.wait_for("nothing shown", |s| s.source.last_rejection.is_none())
        .await;
    r.stop().await;
}

// The mass-change guard: resets count like removals (this RR's own
// registration lost), a wipe in steps is caught by the window, and a
// restart of rrd does not apply what the running rrd held back.

const RR: &str = "172.17.42.40";

/// The seed with `extra` more nodes: 3 + extra client sessions.
fn seed_with(extra: u8) -> rrd_core::Topology {
    let mut t = fixtures::seed();
    for i in 0..extra {
        let mut n = Node::new(format!("extra-{i}"));
        n.ipv4 = format!("172.17.42.{}", 50 + i).parse().ok();
        t.nodes.insert(n.name.clone(), n);
    }
    t
}

fn guarded() -> RuntimeSettings {
    let mut settings = RuntimeSettings::default();
    settings.mass_removal.min_sessions = 4;
    settings.mass_removal.release_after = Duration::ZERO;
    settings
}

fn held_config(engine: &FakeEngine) -> rrd_core::RrConfig {
    engine
        .state()
        .held
        .clone()
        .expect("the engine holds a config")
}

#[tokio::test(start_paused = true)]
async fn losing_this_rrs_own_registration_resets_every_session_and_is_held() {
    let engine = FakeEngine::default();
    let r = start(engine.clone(), guarded());
    r.source.emit(SourceEvent::Snapshot(seed_with(3)));
    r.wait_for("ready", Status::ready).await;
    let before = held_config(&engine);
    assert_eq!(before.neighbors.len(), 6);
    // `rr_v4/<this RR>` deleted: standalone, every session changes.
    r.source.emit(SourceEvent::Changes(vec![
        TopologyChange::RemoveRouteReflector(RR.parse().unwrap()),
    ]));
    let s = r
        .wait_for("held", |s| s.pending_mass_removal.is_some())
        .await;
    let pending = s.pending_mass_removal.unwrap();
    assert_eq!((pending.removes, pending.resets), (0, 6), "{pending:?}");
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(held_config(&engine), before, "nothing applied while held");
    assert!(r.handle.send(Control::AllowMassRemoval).await);
    r.wait_for("applied", |s| s.ready()).await;
    assert_ne!(held_config(&engine), before);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_does_not_apply_what_the_running_rrd_held_back() {
    let engine = FakeEngine::default();
    let r = start(engine.clone(), guarded());
    r.source.emit(SourceEvent::Snapshot(seed_with(3)));
    r.wait_for("ready", Status::ready).await;
    let good = held_config(&engine);
    r.stop().await;
    // The RR's own key went bad while rrd ran (skipped, last good kept);
    // the restarted rrd reads a datastore without it.
    let mut without_rr = seed_with(3);
    without_rr.route_reflectors.clear();
    let r = start(engine.clone(), guarded());
    r.source.emit(SourceEvent::Rejected {
        key: format!("/calico/bgp/v1/rr_v4/{RR}"),
        reason: "invalid JSON".into(),
    });
    r.source.emit(SourceEvent::Snapshot(without_rr));
    let s = r
        .wait_for("held", |s| s.pending_mass_removal.is_some())
        .await;
    assert_eq!(s.pending_mass_removal.unwrap().resets, 6);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(held_config(&engine), good, "the restart changed nothing");
    assert!(!r.handle.status().ready());
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_slow_wipe_is_held_once_its_steps_add_up_within_the_window() {
    let engine = FakeEngine::default();
    let r = start(engine.clone(), guarded());
    r.source.emit(SourceEvent::Snapshot(seed_with(7)));
    r.wait_for("ready", Status::ready).await;
    assert_eq!(held_config(&engine).neighbors.len(), 10);
    let remove = |names: &[&str]| {
        SourceEvent::Changes(
            names
                .iter()
                .map(|n| TopologyChange::RemoveNode((*n).into()))
                .collect(),
        )
    };
    // 10 -> 6: 4 of 10, under half.
    r.source
        .emit(remove(&["extra-0", "extra-1", "extra-2", "extra-3"]));
    r.wait_for("6 sessions", |s| s.ready() && s.desired.len() == 6)
        .await;
    assert_eq!(held_config(&engine).neighbors.len(), 6);
    tokio::time::sleep(Duration::from_secs(60)).await;
    // 6 -> 3: 3 of 6 alone passes; 7 of 10 within the window does not.
    r.source.emit(remove(&["extra-4", "extra-5", "extra-6"]));
    let s = r
        .wait_for("held", |s| s.pending_mass_removal.is_some())
        .await;
    let pending = s.pending_mass_removal.unwrap();
    assert_eq!(
        (
            pending.removes,
            pending.earlier_in_window,
            pending.held_sessions
        ),
        (3, 4, 10),
        "{pending:?}"
    );
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(held_config(&engine).neighbors.len(), 6, "step held");
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn without_a_window_each_step_of_a_slow_wipe_is_judged_alone() {
    let engine = FakeEngine::default();
    let mut settings = guarded();
    settings.mass_removal.window = Duration::ZERO;
    let r = start(engine.clone(), settings);
    r.source.emit(SourceEvent::Snapshot(seed_with(7)));
    r.wait_for("ready", Status::ready).await;
    for names in [
        &["extra-0", "extra-1", "extra-2", "extra-3"][..],
        &["extra-4", "extra-5", "extra-6"][..],
    ] {
        r.source.emit(SourceEvent::Changes(
            names
                .iter()
                .map(|n| TopologyChange::RemoveNode((*n).into()))
                .collect(),
        ));
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    r.wait_for("3 sessions", |s| s.ready() && s.desired.len() == 3)
        .await;
    assert_eq!(held_config(&engine).neighbors.len(), 3);
    r.stop().await;
}

/// Session states read every second, route counts every 30 s.
fn states_every_second_counts_every_30s() -> RuntimeSettings {
    RuntimeSettings {
        observe_interval: Duration::from_secs(1),
        counts_interval: Duration::from_secs(30),
        ..RuntimeSettings::default()
    }
}

#[tokio::test(start_paused = true)]
async fn route_counts_are_read_every_counts_interval_and_states_in_between() {
    let settings = states_every_second_counts_every_30s();
    let r = start(FakeEngine::default(), settings);
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    let first = r
        .wait_for("counts read", |s| s.engine.counts_observed_unix.is_some())
        .await;
    let (full, states) = {
        let s = r.engine.state();
        (s.observations, s.state_observations)
    };
    assert_eq!(states, 0, "the first observation of the daemon is full");
    tokio::time::sleep(Duration::from_millis(90_500)).await;
    let made = {
        let s = r.engine.state();
        (s.observations - full, s.state_observations - states)
    };
    assert_eq!(
        made,
        (3, 87),
        "in 90 s: full at 30, 60 and 90 s, the states alone every other second"
    );
    let later = r.handle.status().engine.counts_observed_unix;
    assert!(later >= first.engine.counts_observed_unix);
    assert!(
        r.handle
            .metrics()
            .contains("rrd_peer_prefixes_observed_timestamp_seconds "),
        "the age of the counts is exported"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_session_that_comes_up_has_its_counts_read_within_seconds_not_at_the_next_interval() {
    let settings = states_every_second_counts_every_30s();
    let engine = FakeEngine::default();
    let r = start(engine.clone(), settings);
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    r.wait_for("counts read", |s| s.engine.counts_observed_unix.is_some())
        .await;
    let key = held_config(&engine)
        .neighbors
        .keys()
        .next()
        .expect("a session")
        .clone();
    engine
        .state()
        .session_states
        .insert(key.clone(), SessionState::Active);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let full_before = engine.state().observations;
    engine.state().session_states.remove(&key);
    r.wait_for("the session up", |s| {
        s.sessions
            .iter()
            .any(|x| x.key == key && x.state == SessionState::Established)
    })
    .await;
    assert_eq!(engine.state().observations, full_before, "no full look yet");
    // The next full look would be 30 s after the first; one comes 5 s
    // after the session came up, and one only.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        engine.state().observations,
        full_before + 1,
        "one full look within 7 s of the session coming up"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_daemon_back_from_an_outage_has_its_counts_read_at_once() {
    let r = start(FakeEngine::default(), RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    r.engine.state().down = true;
    r.wait_for("daemon down", |s| s.engine.daemon.starts_with("down"))
        .await;
    let full_before = r.engine.state().observations;
    r.engine.state().down = false;
    r.wait_for("daemon back", |s| s.engine.daemon == "running")
        .await;
    assert_eq!(r.engine.state().observations, full_before + 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_pending_change_is_applied_before_the_next_periodic_observation_starts() {
    // An observation that takes 500 ms: one started while a change waits
    // for its debounce would hold the apply until it ends.
    let engine = FakeEngine::default();
    let r = start(engine, RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    r.engine.state().observe_delay = Duration::from_millis(500);
    // Observations start on whole seconds from the start; stand 100 ms
    // before the one at 10 s.
    let origin = tokio::time::Instant::now();
    tokio::time::sleep_until(origin + Duration::from_millis(9_850)).await;
    let applies = r.engine.state().applies.len();
    for (i, ip) in ["172.17.42.61", "172.17.42.62"].into_iter().enumerate() {
        let mut n = Node::new(format!("burst-{i}"));
        n.ipv4 = ip.parse().ok();
        r.source
            .emit(SourceEvent::Changes(vec![TopologyChange::UpsertNode(n)]));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The second change is a burst: due 200 ms after it, at ~10.1 s; the
    // observation due at 10 s must not start before it.
    let written = tokio::time::Instant::now() - Duration::from_millis(50);
    r.wait_for("5 sessions", |s| s.desired.len() == 5 && s.in_sync)
        .await;
    loop {
        if r.engine.state().applies.len() == applies + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let waited = written.elapsed();
    assert!(
        waited <= Duration::from_millis(260),
        "the burst waited {waited:?} for its apply: an observation went first"
    );
    r.stop().await;
}

/// A runtime past its first apply whose looks take 500 ms and may give
/// way or not.
async fn ready_with_slow_looks(looks_may_give_way: bool) -> Running {
    let r = start(FakeEngine::default(), RuntimeSettings::default());
    r.source.emit(SourceEvent::Snapshot(fixtures::seed()));
    r.wait_for("ready", Status::ready).await;
    let mut e = r.engine.state();
    e.observe_delay = Duration::from_millis(500);
    e.looks_may_give_way = looks_may_give_way;
    drop(e);
    r
}

/// A change emitted 100 ms into a 500 ms periodic look, the look's engine
/// saying whether its looks may give way: how long the change waited for
/// its apply.
async fn wait_of_a_change_during_a_look(looks_may_give_way: bool) -> Duration {
    let r = ready_with_slow_looks(looks_may_give_way).await;
    // Looks start on whole seconds from the start: stand 100 ms into the
    // one of 10 s (the change before it had a quiet second: applied at once).
    let origin = tokio::time::Instant::now();
    tokio::time::sleep_until(origin + Duration::from_millis(10_100)).await;
    let applies = r.engine.state().applies.len();
    let mut n = Node::new("during-a-look");
    n.ipv4 = "172.17.42.63".parse().ok();
    let written = tokio::time::Instant::now();
    r.source
        .emit(SourceEvent::Changes(vec![TopologyChange::UpsertNode(n)]));
    while r.engine.state().applies.len() == applies {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let waited = written.elapsed();
    r.stop().await;
    waited
}

#[tokio::test(start_paused = true)]
async fn a_look_that_may_give_way_does_so_for_a_change() {
    let waited = wait_of_a_change_during_a_look(true).await;
    assert!(
        waited <= Duration::from_millis(20),
        "the change waited {waited:?}: the look did not give way"
    );
}

#[tokio::test(start_paused = true)]
async fn a_look_that_may_not_give_way_is_waited_out() {
    let waited = wait_of_a_change_during_a_look(false).await;
    assert!(
        waited >= Duration::from_millis(390),
        "the change waited only {waited:?}: the look was cut short"
    );
}

#[tokio::test(start_paused = true)]
async fn looks_keep_being_made_under_a_steady_stream_of_changes() {
    // A change every second, each 100 ms into a 500 ms look: after
    // MAX_LOOKS_GIVEN_WAY looks that gave way, one runs to its end.
    let r = ready_with_slow_looks(true).await;
    let origin = tokio::time::Instant::now();
    tokio::time::sleep_until(origin + Duration::from_millis(10_000)).await;
    let looked = {
        let e = r.engine.state();
        e.observations + e.state_observations
    };
    for i in 0..8u8 {
        // Each at 100 ms into the look of the next whole second.
        tokio::time::sleep_until(origin + Duration::from_millis(11_100 + 1_000 * u64::from(i)))
            .await;
        let mut n = Node::new(format!("stream-{i}"));
        n.ipv4 = format!("172.17.43.{}", i + 1).parse().ok();
        r.source
            .emit(SourceEvent::Changes(vec![TopologyChange::UpsertNode(n)]));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let completed = {
        let e = r.engine.state();
        e.observations + e.state_observations - looked
    };
    // 8 looks cut short at most 3 in a row: at least 2 ran to their end.
    assert!(
        completed >= 2,
        "{completed} looks completed under the stream"
    );
    r.stop().await;
}
