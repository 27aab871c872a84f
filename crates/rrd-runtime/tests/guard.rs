//! The mass-change guard in the loop, against the fakes in paused time:
//! resets count like removals (this RR's own registration lost), a wipe in
//! steps is caught by the window, and a restart of rrd does not apply what
//! the running rrd held back.

use std::time::Duration;

use rrd_core::testing::fakes::{FakeEngine, FakeSource};
use rrd_core::testing::fixtures;
use rrd_core::{Node, RrIdentity, SourceEvent, Topology, TopologyChange};
use rrd_runtime::{Control, ControlHandle, Reconciler, RuntimeSettings, Status};
use tokio::sync::oneshot;

const RR: &str = "172.17.42.40";

fn rr() -> RrIdentity {
    RrIdentity::v4(RR.parse().unwrap())
}

/// The seed with `extra` more nodes: 3 + extra client sessions.
fn seed_with(extra: u8) -> Topology {
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

struct Running {
    source: rrd_core::testing::fakes::FakeSourceHandle,
    handle: ControlHandle,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn start(engine: &FakeEngine, settings: RuntimeSettings) -> Running {
    let (source, script) = FakeSource::new();
    let reconciler = Reconciler::new(source, engine.clone(), rr(), settings);
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
        handle,
        stop,
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

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
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
    let r = start(&engine, guarded());
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
    let r = start(&engine, guarded());
    r.source.emit(SourceEvent::Snapshot(seed_with(3)));
    r.wait_for("ready", Status::ready).await;
    let good = held_config(&engine);
    r.stop().await;
    // The RR's own key went bad while rrd ran (skipped, last good kept);
    // the restarted rrd reads a datastore without it.
    let mut without_rr = seed_with(3);
    without_rr.route_reflectors.clear();
    let r = start(&engine, guarded());
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
    let r = start(&engine, guarded());
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
    let r = start(&engine, settings);
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
