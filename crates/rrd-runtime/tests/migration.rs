//! The migration (docs/migration.md) against in-memory engines, in paused tokio time:
//! which step touches which daemon, what is refused before anything stops,
//! and how failures after the stop roll back to the source.

use std::time::Duration;

use rrd_core::testing::fakes::FakeEngine;
use rrd_core::testing::fixtures;
use rrd_core::{compute, PeerKey, RrConfig, RrIdentity, SessionState, StartMode, StopMode};
use rrd_runtime::migration::{
    migrate, Failure, MigrationError, MigrationOptions, MigrationReport, Progress, Refusal, Step,
};

fn desired() -> RrConfig {
    let rr = RrIdentity::v4("172.17.42.40".parse().unwrap());
    compute(&fixtures::seed(), &rr).unwrap().config
}

fn key(n: u8) -> PeerKey {
    PeerKey(format!("Global_172_17_42_{n}"))
}

/// A source holding `desired`, each client sending one route and receiving
/// two; an empty target that, once configured, reports the same counts
/// after `recovery` observations in graceful-restart recovery.
fn engines(recovery: u32) -> (FakeEngine, FakeEngine) {
    let from = FakeEngine::default();
    let to = FakeEngine::default();
    let d = desired();
    {
        let mut s = from.state();
        s.held = Some(d.clone());
        s.routes = d.neighbors.keys().map(|k| (k.clone(), (1, 2))).collect();
    }
    {
        let mut s = to.state();
        s.routes = d.neighbors.keys().map(|k| (k.clone(), (1, 2))).collect();
        s.recovery_observations = recovery;
        s.forget_on_stop = true;
    }
    (from, to)
}

fn options() -> MigrationOptions {
    MigrationOptions {
        deadline: Duration::from_secs(60),
        routes_grace: Duration::from_secs(5),
        rollback_deadline: Duration::from_secs(60),
        poll_interval: Duration::from_millis(100),
        interrupt: None,
    }
}

async fn run(
    from: &FakeEngine,
    to: &FakeEngine,
    options: &MigrationOptions,
) -> (Result<MigrationReport, MigrationError>, Vec<Progress>) {
    let (mut a, mut b) = (from.clone(), to.clone());
    let mut lines = Vec::new();
    let mut progress = |p: &Progress| lines.push(p.clone());
    let result = migrate(&mut a, &mut b, &desired(), options, &mut progress).await;
    (result, lines)
}

fn refusal(r: Result<MigrationReport, MigrationError>) -> Refusal {
    match r {
        Err(MigrationError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn nothing_touched(from: &FakeEngine, to: &FakeEngine) {
    assert!(from.state().stopped.is_empty(), "the source was stopped");
    assert!(from.state().applies.is_empty());
    assert!(to.state().applies.is_empty(), "the target was configured");
}

#[tokio::test(start_paused = true)]
async fn a_healthy_source_hands_every_session_to_an_empty_target() {
    let (from, to) = engines(3);
    let (result, lines) = run(&from, &to, &options()).await;
    let report = result.expect("migrated");

    assert_eq!(from.state().started, [StartMode::Fresh]);
    assert_eq!(from.state().stopped, [StopMode::PreserveForwarding]);
    assert_eq!(to.state().started, [StartMode::Restarting]);
    assert!(to.state().stopped.is_empty());
    let applies = to.state().applies.clone();
    assert_eq!(applies.len(), 1, "one apply with everything");
    assert!(applies[0].router.is_some());
    assert_eq!(applies[0].add.len(), desired().neighbors.len());
    assert_eq!(to.state().held, Some(desired()));

    let t = report.timings;
    assert!(t.checked <= t.stopped && t.stopped <= t.started);
    assert!(t.started <= t.established && t.established <= t.recovered);
    assert!(t.recovered <= t.routes_matched);
    assert!(t.handover().is_some());
    assert_eq!(report.sessions.len(), 3);
    assert!(report
        .sessions
        .iter()
        .all(|s| s.after.map(|c| (c.received, c.sent)) == Some((Some(1), Some(2)))));
    let steps: Vec<Step> = lines.iter().map(|p| p.step).collect();
    for step in [
        Step::Snapshot,
        Step::Check,
        Step::Stop,
        Step::Start,
        Step::Recovery,
        Step::Routes,
        Step::Done,
    ] {
        assert!(steps.contains(&step), "no {step:?} line in {lines:#?}");
    }
    assert!(!steps.contains(&Step::Rollback));
    assert!(
        lines.iter().any(|p| p.message.contains("0/3 End-of-RIB")),
        "recovery progress is reported: {lines:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_target_is_handed_the_sources_look_before_it_starts() {
    let (from, to) = engines(3);
    run(&from, &to, &options()).await.0.expect("migrated");
    let carried = to.state().carried_over.clone();
    assert_eq!(carried.len(), 1, "{carried:?}");
    let (look, starts_before) = &carried[0];
    assert_eq!(*starts_before, 0, "handed over after the target started");
    let keys: Vec<&PeerKey> = look.sessions.iter().map(|s| &s.key).collect();
    let desired = desired();
    let want: Vec<&PeerKey> = desired.neighbors.keys().collect();
    assert_eq!(keys, want);
    assert!(
        from.state().carried_over.is_empty(),
        "the source got nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_without_graceful_restart_is_refused_before_anything_stops() {
    let (from, to) = engines(0);
    from.state().without_graceful_restart.insert(key(31));
    let why = refusal(run(&from, &to, &options()).await.0);
    let Refusal::Sessions(problems) = &why else {
        panic!("{why}");
    };
    assert_eq!(problems.len(), 1, "{why}");
    assert_eq!(problems[0].key, key(31));
    assert!(
        why.to_string().contains("graceful restart for ipv4"),
        "{why}"
    );
    nothing_touched(&from, &to);
    assert!(
        to.state().started.is_empty(),
        "the target was not even started"
    );
}

#[tokio::test(start_paused = true)]
async fn sessions_that_are_not_established_are_refused_by_name() {
    let (from, to) = engines(0);
    from.state()
        .session_states
        .insert(key(32), SessionState::Active);
    let why = refusal(run(&from, &to, &options()).await.0);
    assert!(
        why.to_string().contains("Global_172_17_42_32: Active"),
        "{why}"
    );
    nothing_touched(&from, &to);
}

#[tokio::test(start_paused = true)]
async fn a_source_out_of_sync_with_the_datastore_is_refused() {
    let (from, to) = engines(0);
    from.state()
        .held
        .as_mut()
        .unwrap()
        .neighbors
        .remove(&key(30));
    let why = refusal(run(&from, &to, &options()).await.0);
    assert!(matches!(why, Refusal::NotInSync { .. }), "{why}");
    nothing_touched(&from, &to);
}

#[tokio::test(start_paused = true)]
async fn a_target_that_already_holds_a_configuration_is_refused() {
    let (from, to) = engines(0);
    to.state().held = Some(desired());
    let why = refusal(run(&from, &to, &options()).await.0);
    assert!(
        matches!(why, Refusal::TargetNotEmpty { sessions: 3, .. }),
        "{why}"
    );
    nothing_touched(&from, &to);
}

#[tokio::test(start_paused = true)]
async fn a_target_that_cannot_start_is_refused() {
    let (from, to) = engines(0);
    to.state().fail_next_start = true;
    let why = refusal(run(&from, &to, &options()).await.0);
    assert!(matches!(why, Refusal::TargetStart { .. }), "{why}");
    nothing_touched(&from, &to);
}

/// The rollback half every failure after the stop must show.
fn rolled_back(
    from: &FakeEngine,
    to: &FakeEngine,
    r: Result<MigrationReport, MigrationError>,
) -> (Failure, MigrationReport) {
    let (cause, report) = match r {
        Err(MigrationError::RolledBack { cause, report }) => (cause, *report),
        other => panic!("expected a rollback, got {other:?}"),
    };
    assert_eq!(to.state().stopped, [StopMode::PreserveForwarding]);
    assert_eq!(
        from.state().started,
        [StartMode::Fresh, StartMode::Restarting]
    );
    let reapplied = from.state().applies.clone();
    assert_eq!(reapplied.len(), 1, "the source gets its whole config again");
    assert_eq!(reapplied[0].add.len(), desired().neighbors.len());
    assert_eq!(from.state().held, Some(desired()));
    let rb = report.rollback.as_ref().expect("rollback report");
    assert!(rb.restarted.is_some() && rb.recovered.is_some(), "{rb:?}");
    (cause, report)
}

#[tokio::test(start_paused = true)]
async fn a_target_that_never_recovers_is_rolled_back_at_the_deadline() {
    let (from, to) = engines(u32::MAX);
    let started = tokio::time::Instant::now();
    let (result, lines) = run(&from, &to, &options()).await;
    let (cause, report) = rolled_back(&from, &to, result);
    assert!(matches!(cause, Failure::Deadline { .. }), "{cause}");
    assert!(started.elapsed() >= Duration::from_secs(60));
    assert!(started.elapsed() < Duration::from_secs(62));
    // Its sessions were up but still awaiting End-of-RIB: named, because
    // their clients lose the RR's routes when the target stops.
    let rb = report.rollback.unwrap();
    assert_eq!(rb.up_without_routes.len(), 3, "{rb:?}");
    assert!(lines.iter().any(|p| p.step == Step::Rollback));
}

#[tokio::test(start_paused = true)]
async fn fewer_routes_on_the_target_roll_back_after_the_grace_period() {
    let (from, to) = engines(0);
    to.state().routes.insert(key(31), (0, 2));
    let started = tokio::time::Instant::now();
    let (result, _) = run(&from, &to, &options()).await;
    let (cause, report) = rolled_back(&from, &to, result);
    let Failure::RoutesMissing(short) = &cause else {
        panic!("{cause}");
    };
    assert_eq!(short.len(), 1);
    assert_eq!(short[0].key, key(31));
    assert!(short[0].problem.contains("0 routes received, 1 before"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no wait for the deadline"
    );
    assert!(report.rollback.unwrap().up_without_routes.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_target_that_refuses_the_configuration_is_rolled_back() {
    let (from, to) = engines(0);
    to.state().reject = true;
    let (result, _) = run(&from, &to, &options()).await;
    let (cause, _) = rolled_back(&from, &to, result);
    assert!(
        matches!(
            cause,
            Failure::Engine {
                operation: "apply",
                ..
            }
        ),
        "{cause}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_during_the_handover_rolls_back() {
    let (from, to) = engines(u32::MAX);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let opts = MigrationOptions {
        interrupt: Some(rx),
        ..options()
    };
    let trigger = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = tx.send(true);
        tx
    });
    let (result, _) = run(&from, &to, &opts).await;
    let (cause, _) = rolled_back(&from, &to, result);
    assert!(matches!(cause, Failure::Interrupted), "{cause}");
    drop(trigger.await);
}

#[tokio::test(start_paused = true)]
async fn a_source_that_cannot_come_back_is_reported_as_a_failed_rollback() {
    let (from, to) = engines(0);
    to.state().reject = true;
    from.state().reject = true;
    let (result, _) = run(&from, &to, &options()).await;
    match result {
        Err(MigrationError::RollbackFailed {
            cause, rollback, ..
        }) => {
            assert!(matches!(cause, Failure::Engine { .. }), "{cause}");
            assert!(
                matches!(
                    rollback,
                    Failure::Engine {
                        operation: "apply",
                        ..
                    }
                ),
                "{rollback}"
            );
        }
        other => panic!("expected a failed rollback, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_rollback_restores_first_the_sessions_that_came_up_on_the_target() {
    // 30 and 31 came up on the target, which holds back its routes waiting
    // for 32's End-of-RIB; 32 never came. A source restarted with 32 would
    // wait for it just the same: it gets 32 only once it has recovered.
    let (from, to) = engines(u32::MAX);
    to.state()
        .session_states
        .insert(key(32), SessionState::Active);
    let (result, lines) = run(&from, &to, &options()).await;
    let report = match result {
        Err(MigrationError::RolledBack { report, .. }) => report,
        other => panic!("expected a rollback, got {other:?}"),
    };
    let rb = report.rollback.clone().unwrap();
    assert_eq!(rb.up_without_routes, [key(30), key(31)]);
    assert_eq!(rb.added_after_recovery, [key(32)]);
    let applies = from.state().applies.clone();
    assert_eq!(applies.len(), 2, "{applies:#?}");
    assert!(applies[0].router.is_some());
    assert_eq!(
        applies[0].add.keys().cloned().collect::<Vec<_>>(),
        [key(30), key(31)]
    );
    assert!(applies[1].router.is_none());
    assert_eq!(
        applies[1].add.keys().cloned().collect::<Vec<_>>(),
        [key(32)]
    );
    assert_eq!(from.state().held, Some(desired()));
    assert!(
        lines
            .iter()
            .any(|p| p.message.contains("with the 2 sessions that came up")),
        "{lines:#?}"
    );
    assert!(
        report.to_string().contains("given back to fake"),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_before_the_stop_only_refuses_and_stops_the_empty_target() {
    let (from, to) = engines(0);
    let (_tx, rx) = tokio::sync::watch::channel(true);
    let opts = MigrationOptions {
        interrupt: Some(rx),
        ..options()
    };
    let why = refusal(run(&from, &to, &opts).await.0);
    assert!(matches!(why, Refusal::Interrupted), "{why}");
    nothing_touched(&from, &to);
    assert_eq!(to.state().stopped, [StopMode::Graceful]);
}
