//! Moving one RR from one BGP daemon to another without a routing outage
//! (docs/migration.md; `rrd migrate --to gobgp|bird`).
//!
//! Sits beside the reconciler, not in it: the binary reads the datastore
//! once, computes the desired [`RrConfig`], builds both engines and calls
//! [`migrate`], which drives them through the [`BgpEngine`] contract only:
//!
//! 1. attach to the source, snapshot its sessions and route counts;
//! 2. refuse unless the source holds exactly `desired`, every session is
//!    Established with graceful restart negotiated for all its families
//!    (the RR's routes survive only on such sessions) and the target,
//!    started as a restarting speaker, holds nothing;
//! 3. stop the source without NOTIFICATIONs ([`StopMode::PreserveForwarding`]):
//!    clients keep its routes as stale for its restart time;
//! 4. give the target everything ([`StartMode::Restarting`]: R and F bits,
//!    so clients keep forwarding until its End-of-RIB), after handing it
//!    the source's look of step 1 ([`BgpEngine::carry_over`]: FRR takes
//!    the clients' router ids from it);
//! 5. wait until every session is Established and the target's recovery is
//!    over (End-of-RIB received from every peer, its own sent);
//! 6. wait until every session receives and sends at least as many routes
//!    as before;
//! 7. on any failure, the deadline (well under the clients' restart time)
//!    or an interrupt: stop the target without NOTIFICATIONs, restart the
//!    source as a restarting speaker with its configuration, and wait for
//!    it to recover.
//!
//! A rollback is hitless while the target has no session up, or once it
//! has sent its routes. In between (a session up, routes still held back
//! because another peer has not sent End-of-RIB) a BIRD client that sees
//! the second restart ends the pending one and drops the stale routes; the
//! report names such sessions ([`RollbackReport::up_without_routes`]).

use std::collections::BTreeMap;
use std::time::Duration;

use rrd_core::{
    plan, BgpEngine, DaemonState, EngineError, Observation, PeerKey, Recovery, RrConfig,
    SessionState, StartMode, StopMode,
};
use tokio::sync::watch;
use tokio::time::Instant;

mod report;

pub use report::{
    Counts, Failure, MigrationError, MigrationReport, Progress, Refusal, RollbackReport,
    SessionProblem, SessionReport, Step, Timings,
};

/// How a migration runs.
#[derive(Clone, Debug)]
pub struct MigrationOptions {
    /// From the source's stop until the target must hold every session
    /// with End-of-RIB exchanged and the route counts of the snapshot.
    /// Keep it well under the restart time the clients were given (120 s
    /// by default): the rollback needs the rest. Default 60 s.
    pub deadline: Duration,
    /// Once End-of-RIB was exchanged everywhere, how long route counts may
    /// take to reach the snapshot's before the handover is abandoned.
    /// Default 5 s.
    pub routes_grace: Duration,
    /// How long the restarted source may take to recover after a rollback.
    /// Default 60 s.
    pub rollback_deadline: Duration,
    /// How often the daemons are observed while waiting. Default 100 ms.
    pub poll_interval: Duration,
    /// Set to `true` (SIGINT, SIGTERM) to abandon the handover and roll
    /// back; before the source is stopped it only refuses.
    pub interrupt: Option<watch::Receiver<bool>>,
}

impl Default for MigrationOptions {
    fn default() -> Self {
        MigrationOptions {
            deadline: Duration::from_secs(60),
            routes_grace: Duration::from_secs(5),
            rollback_deadline: Duration::from_secs(60),
            poll_interval: Duration::from_millis(100),
            interrupt: None,
        }
    }
}

type Snapshot = BTreeMap<PeerKey, Counts>;

/// While waiting, the state is repeated this often even when unchanged.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// The state of one migration: the clock, the progress sink, the report.
struct Run<'p> {
    started: Instant,
    options: MigrationOptions,
    progress: &'p mut (dyn FnMut(&Progress) + Send),
    report: MigrationReport,
}

impl Run<'_> {
    fn at(&self) -> Duration {
        self.started.elapsed()
    }

    fn say(&mut self, step: Step, message: impl Into<String>) {
        let p = Progress {
            at: self.at(),
            step,
            message: message.into(),
        };
        (self.progress)(&p);
    }

    fn interrupted(&self) -> bool {
        self.options
            .interrupt
            .as_ref()
            .is_some_and(|rx| *rx.borrow())
    }
}

/// Move `desired` from the daemon `from` drives to the daemon `to` drives,
/// reporting each step to `progress`. On success the target holds every
/// session and the source is stopped; both engines stay with the caller
/// (dropping a managed engine leaves its daemon running).
pub async fn migrate<A: BgpEngine, B: BgpEngine>(
    from: &mut A,
    to: &mut B,
    desired: &RrConfig,
    options: &MigrationOptions,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<MigrationReport, MigrationError> {
    let mut run = Run {
        started: Instant::now(),
        options: options.clone(),
        progress,
        report: MigrationReport {
            from: from.info(),
            to: to.info(),
            sessions: Vec::new(),
            timings: Timings::default(),
            rollback: None,
        },
    };
    let snapshot = check(&mut run, from, to, desired)
        .await
        .map_err(MigrationError::Refused)?;
    run.report.timings.checked = Some(run.at());
    match hand_over(&mut run, from, to, desired, &snapshot).await {
        Ok(observation) => {
            run.report.sessions = session_reports(&snapshot, Some(&observation));
            let handover = run.report.timings.handover().unwrap_or_default();
            let (from_kind, to_kind) = (run.report.from.kind, run.report.to.kind);
            run.say(
                Step::Done,
                format!(
                    "{to_kind} holds every session; {from_kind} is stopped; handover took {} ms",
                    handover.as_millis()
                ),
            );
            Ok(run.report)
        }
        Err((cause, last)) => Err(roll_back(run, from, to, desired, &snapshot, cause, last).await),
    }
}

/// Steps 1 and 2: everything that can be known before stopping anything.
async fn check<A: BgpEngine, B: BgpEngine>(
    run: &mut Run<'_>,
    from: &mut A,
    to: &mut B,
    desired: &RrConfig,
) -> Result<Snapshot, Refusal> {
    let (from_kind, to_kind) = (run.report.from.kind, run.report.to.kind);
    run.say(
        Step::Snapshot,
        format!(
            "desired: {} sessions, router id {}, AS {}",
            desired.neighbors.len(),
            desired.router.router_id,
            desired.router.local_as.0
        ),
    );
    from.start(StartMode::Fresh)
        .await
        .map_err(|source| Refusal::SourceStart {
            engine: from_kind,
            source,
        })?;
    run.report.from = from.info();
    let seen = from.observe().await.map_err(|e| Refusal::SourceDown {
        engine: from_kind,
        reason: e.to_string(),
    })?;
    let reason = match &seen.daemon {
        DaemonState::Running => None,
        DaemonState::Unconfigured => Some("it holds no BGP configuration".to_owned()),
        DaemonState::Down { reason } => Some(reason.clone()),
    };
    if let Some(reason) = reason {
        return Err(Refusal::SourceDown {
            engine: from_kind,
            reason,
        });
    }
    let snapshot: Snapshot = seen
        .sessions
        .iter()
        .filter(|s| desired.neighbors.contains_key(&s.key))
        .map(|s| {
            let c = Counts {
                received: s.routes_received,
                sent: s.routes_sent,
            };
            (s.key.clone(), c)
        })
        .collect();
    let (received, sent) = snapshot.values().fold((0, 0), |(r, s), c| {
        (r + c.received.unwrap_or(0), s + c.sent.unwrap_or(0))
    });
    run.say(
        Step::Snapshot,
        format!(
            "{from_kind} ({}): {} sessions, {received} routes received, {sent} sent",
            run.report
                .from
                .version
                .as_deref()
                .unwrap_or("version unknown"),
            seen.sessions.len()
        ),
    );

    let held = from.held().await.map_err(|e| Refusal::SourceDown {
        engine: from_kind,
        reason: e.to_string(),
    })?;
    let diff = plan(desired, held.as_ref());
    if !diff.is_empty() {
        return Err(Refusal::NotInSync {
            engine: from_kind,
            plan: diff.summary(),
        });
    }
    let problems = session_problems(desired, &seen);
    if !problems.is_empty() {
        return Err(Refusal::Sessions(problems));
    }
    run.say(
        Step::Check,
        format!("{from_kind} holds the desired configuration; every session is Established with graceful restart for its families"),
    );

    // What the source's daemon learned from its peers (FRR: the clients'
    // router ids) reaches the target before it renders or starts anything.
    to.carry_over(&seen, desired)
        .map_err(|source| Refusal::TargetCarryOver {
            engine: to_kind,
            source,
        })?;
    to.start(StartMode::Restarting)
        .await
        .map_err(|source| Refusal::TargetStart {
            engine: to_kind,
            source,
        })?;
    run.report.to = to.info();
    match to.held().await {
        Ok(None) => {}
        Ok(Some(c)) => {
            return Err(Refusal::TargetNotEmpty {
                engine: to_kind,
                sessions: c.neighbors.len(),
            })
        }
        Err(source) => {
            return Err(Refusal::TargetUnknown {
                engine: to_kind,
                source,
            })
        }
    }
    if run.interrupted() {
        // Empty, perhaps started just now: not left running for nothing.
        if let Err(e) = to.stop(StopMode::Graceful).await {
            run.say(Step::Check, format!("stopping {to_kind} failed: {e}"));
        }
        return Err(Refusal::Interrupted);
    }
    run.say(
        Step::Check,
        format!(
            "{to_kind} ({}) is ready as a restarting speaker and holds nothing",
            run.report.to.endpoint
        ),
    );
    Ok(snapshot)
}

/// What keeps a session from surviving the handover: not Established, or
/// no graceful restart (ours or the peer's) for one of its families.
fn session_problems(desired: &RrConfig, seen: &Observation) -> Vec<SessionProblem> {
    let mut out = Vec::new();
    for (key, n) in &desired.neighbors {
        let problem = match seen.sessions.iter().find(|s| &s.key == key) {
            _ if !n.graceful_restart.enabled => {
                "graceful restart is off for this session in the topology: its peer would drop the RR's routes".to_owned()
            }
            None => "not reported by the daemon".to_owned(),
            Some(s) if s.state != SessionState::Established => {
                format!("{} (not Established)", s.state.label())
            }
            Some(s) => {
                let missing: Vec<String> = n
                    .families
                    .iter()
                    .filter(|f| !s.peer_graceful_restart.contains(f))
                    .map(ToString::to_string)
                    .collect();
                if missing.is_empty() {
                    continue;
                }
                format!(
                    "the peer did not negotiate graceful restart for {}",
                    missing.join(", ")
                )
            }
        };
        out.push(SessionProblem {
            key: key.clone(),
            problem,
        });
    }
    out
}

type HandoverError = (Failure, Option<Observation>);

/// Steps 3 to 6. On failure: why, and the target's last observation.
async fn hand_over<A: BgpEngine, B: BgpEngine>(
    run: &mut Run<'_>,
    from: &mut A,
    to: &mut B,
    desired: &RrConfig,
    snapshot: &Snapshot,
) -> Result<Observation, HandoverError> {
    let (from_kind, to_kind) = (run.report.from.kind, run.report.to.kind);
    run.say(
        Step::Stop,
        format!("stopping {from_kind} without NOTIFICATIONs; clients keep its routes as stale"),
    );
    let stop = from.stop(StopMode::PreserveForwarding).await;
    // The clients' restart timers run from here, stopped or not.
    let stopped_at = Instant::now();
    run.report.timings.stopped = Some(run.at());
    stop.map_err(|source| {
        let f = Failure::Engine {
            engine: from_kind,
            operation: "stop without NOTIFICATIONs",
            source,
        };
        (f, None)
    })?;
    let deadline = stopped_at + run.options.deadline;
    run.say(
        Step::Stop,
        format!(
            "{from_kind} stopped; {to_kind} must hold every session within {:?}",
            run.options.deadline
        ),
    );

    let everything = plan(desired, None);
    let applied = to.apply(desired, &everything).await.map_err(|source| {
        let f = Failure::Engine {
            engine: to_kind,
            operation: "apply",
            source,
        };
        (f, None)
    })?;
    run.report.timings.started = Some(run.at());
    run.say(
        Step::Start,
        format!(
            "{to_kind} holds the configuration as a restarting speaker ({} operations)",
            applied.operations.len()
        ),
    );
    let mut timings = run.report.timings;
    let limit = (deadline, run.options.deadline);
    let result = wait_recovered(run, to, desired, Some(snapshot), limit, &mut timings).await;
    run.report.timings = timings;
    result
}

/// Where the sessions of one daemon stand.
#[derive(Debug, Default, PartialEq, Eq)]
struct Assessment {
    established: usize,
    recovered: usize,
    routes_ok: usize,
    total: usize,
    /// Sessions not Established or not recovered, and why.
    pending: Vec<SessionProblem>,
    /// Sessions with fewer routes than in the snapshot.
    short: Vec<SessionProblem>,
    /// Established.
    up: Vec<PeerKey>,
    /// Established, but the daemon still holds back its routes.
    up_without_routes: Vec<PeerKey>,
}

fn assess(desired: &RrConfig, seen: &Observation, snapshot: Option<&Snapshot>) -> Assessment {
    let mut a = Assessment {
        total: desired.neighbors.len(),
        ..Assessment::default()
    };
    for key in desired.neighbors.keys() {
        let problem = |p: String| SessionProblem {
            key: key.clone(),
            problem: p,
        };
        let Some(s) = seen.sessions.iter().find(|s| &s.key == key) else {
            a.pending.push(problem("not reported".into()));
            continue;
        };
        if s.state != SessionState::Established {
            a.pending.push(problem(s.state.label().to_owned()));
            continue;
        }
        a.established += 1;
        a.up.push(key.clone());
        if s.recovery != Recovery::Done {
            a.up_without_routes.push(key.clone());
            a.pending
                .push(problem(format!("Established, {}", s.recovery.label())));
            continue;
        }
        a.recovered += 1;
        let before = snapshot
            .and_then(|m| m.get(key))
            .copied()
            .unwrap_or_default();
        let fewer = |now: Option<u64>, then: Option<u64>| {
            matches!((now, then), (Some(n), Some(t)) if n < t) || (now.is_none() && then.is_some())
        };
        let mut short = Vec::new();
        if fewer(s.routes_received, before.received) {
            short.push(format!(
                "{} routes received, {} before",
                s.routes_received.unwrap_or(0),
                before.received.unwrap_or(0)
            ));
        }
        // An engine may not count routes sent (GoBGP above
        // `engine.gobgp.count_routes_sent_up_to`): unknown, not fewer.
        if s.routes_sent.is_some() && fewer(s.routes_sent, before.sent) {
            short.push(format!(
                "{} routes sent, {} before",
                s.routes_sent.unwrap_or(0),
                before.sent.unwrap_or(0)
            ));
        }
        if short.is_empty() {
            a.routes_ok += 1;
        } else {
            a.short.push(problem(short.join(", ")));
        }
    }
    a
}

/// Steps 5 and 6 (and the rollback's recovery): observe `engine` until
/// every desired session is Established, recovered, and carries at least
/// the snapshot's routes.
async fn wait_recovered<E: BgpEngine>(
    run: &mut Run<'_>,
    engine: &mut E,
    desired: &RrConfig,
    snapshot: Option<&Snapshot>,
    (deadline, allowed): (Instant, Duration),
    timings: &mut Timings,
) -> Result<Observation, HandoverError> {
    let step = if snapshot.is_some() {
        Step::Recovery
    } else {
        Step::Rollback
    };
    let kind = engine.info().kind;
    let mut last: Option<Observation> = None;
    let mut said = None;
    let mut said_at = Instant::now();
    let mut recovered_at: Option<Instant> = None;
    loop {
        if run.interrupted() {
            return Err((Failure::Interrupted, last));
        }
        match engine.observe().await {
            Ok(seen) => {
                let a = assess(desired, &seen, snapshot);
                let summary = (a.established, a.recovered, a.routes_ok);
                if said != Some(summary) || said_at.elapsed() >= HEARTBEAT {
                    let left = deadline.saturating_duration_since(Instant::now());
                    run.say(
                        step,
                        format!(
                            "{kind}: {}/{} Established, {}/{} End-of-RIB exchanged, {}/{} with their routes ({} s left)",
                            a.established,
                            a.total,
                            a.recovered,
                            a.total,
                            a.routes_ok,
                            a.total,
                            left.as_secs()
                        ),
                    );
                    said = Some(summary);
                    said_at = Instant::now();
                }
                if a.established == a.total && timings.established.is_none() {
                    timings.established = Some(run.at());
                }
                if a.recovered == a.total && recovered_at.is_none() {
                    recovered_at = Some(Instant::now());
                    timings.recovered = Some(run.at());
                }
                if a.routes_ok == a.total {
                    timings.routes_matched = Some(run.at());
                    if snapshot.is_some() {
                        run.say(Step::Routes, "route counts match the snapshot");
                    }
                    return Ok(seen);
                }
                let grace_over =
                    recovered_at.is_some_and(|t| t.elapsed() >= run.options.routes_grace);
                if grace_over && a.pending.is_empty() {
                    return Err((Failure::RoutesMissing(a.short), Some(seen)));
                }
                if Instant::now() >= deadline {
                    let mut pending = a.pending;
                    pending.extend(a.short);
                    let deadline = allowed;
                    return Err((Failure::Deadline { deadline, pending }, Some(seen)));
                }
                last = Some(seen);
            }
            Err(e) => {
                if Instant::now() >= deadline {
                    let pending = vec![SessionProblem {
                        key: PeerKey(kind.into()),
                        problem: format!("not observable: {e}"),
                    }];
                    let deadline = allowed;
                    return Err((Failure::Deadline { deadline, pending }, last));
                }
            }
        }
        tokio::time::sleep(run.options.poll_interval).await;
    }
}

fn session_reports(snapshot: &Snapshot, seen: Option<&Observation>) -> Vec<SessionReport> {
    snapshot
        .iter()
        .map(|(key, before)| SessionReport {
            key: key.clone(),
            before: *before,
            after: seen
                .and_then(|o| o.sessions.iter().find(|s| &s.key == key))
                .map(|s| Counts {
                    received: s.routes_received,
                    sent: s.routes_sent,
                }),
        })
        .collect()
}

/// Step 7: stop the target without NOTIFICATIONs, bring the source back as
/// a restarting speaker with the configuration it held, wait for it.
async fn roll_back<A: BgpEngine, B: BgpEngine>(
    mut run: Run<'_>,
    from: &mut A,
    to: &mut B,
    desired: &RrConfig,
    snapshot: &Snapshot,
    cause: Failure,
    last: Option<Observation>,
) -> MigrationError {
    let to_kind = run.report.to.kind;
    let (up, up_without_routes) = last
        .as_ref()
        .map(|o| {
            let a = assess(desired, o, None);
            (a.up, a.up_without_routes)
        })
        .unwrap_or_default();
    let mut rollback = RollbackReport {
        cause: cause.to_string(),
        up_without_routes,
        ..RollbackReport::default()
    };
    run.say(Step::Rollback, format!("abandoning the handover: {cause}"));
    if !rollback.up_without_routes.is_empty() {
        run.say(
            Step::Rollback,
            format!(
                "{} sessions are up on {to_kind} without its routes; their clients drop the RR's routes when it stops",
                rollback.up_without_routes.len()
            ),
        );
    }
    run.say(
        Step::Rollback,
        format!("stopping {to_kind} without NOTIFICATIONs"),
    );
    if let Err(e) = to.stop(StopMode::PreserveForwarding).await {
        rollback.notes.push(format!("stopping {to_kind}: {e}"));
        run.say(Step::Rollback, format!("stopping {to_kind} failed: {e}"));
    }
    let restored = restore(&mut run, from, desired, &up, &mut rollback).await;
    let seen = restored.as_ref().ok();
    run.report.sessions = session_reports(snapshot, seen);
    run.report.rollback = Some(rollback);
    let report = Box::new(run.report);
    match restored {
        Ok(_) => MigrationError::RolledBack { cause, report },
        Err(what) => MigrationError::RollbackFailed {
            cause,
            rollback: what,
            report,
        },
    }
}

/// The source's half of the rollback: start it as a restarting speaker
/// with `desired` (what it held) and wait for it to recover.
///
/// A restarting daemon holds back its routes until every peer has sent
/// End-of-RIB (BIRD up to `graceful restart wait`, 240 s; gobgpd up to its
/// deferral time, 360 s). When some sessions came up on the target and
/// others did not, the others are unlikely to come back at once: the
/// source restarts with the sessions that were up (`up`) and gets the rest
/// as ordinary sessions once it has recovered, so that a missing peer
/// cannot keep every other client without routes.
async fn restore<A: BgpEngine>(
    run: &mut Run<'_>,
    from: &mut A,
    desired: &RrConfig,
    up: &[PeerKey],
    rollback: &mut RollbackReport,
) -> Result<Observation, Failure> {
    let from_kind = run.report.from.kind;
    let first = if up.is_empty() || up.len() == desired.neighbors.len() {
        desired.clone()
    } else {
        let mut c = desired.clone();
        c.neighbors.retain(|k, _| up.contains(k));
        rollback.added_after_recovery = desired
            .neighbors
            .keys()
            .filter(|k| !up.contains(k))
            .cloned()
            .collect();
        c
    };
    if rollback.added_after_recovery.is_empty() {
        run.say(
            Step::Rollback,
            format!("restarting {from_kind} as a restarting speaker with its configuration"),
        );
    } else {
        run.say(
            Step::Rollback,
            format!(
                "restarting {from_kind} as a restarting speaker with the {} sessions that came up on the target; {} follow once it has recovered",
                first.neighbors.len(),
                rollback.added_after_recovery.len()
            ),
        );
    }
    let engine_failure = |operation, source: EngineError| Failure::Engine {
        engine: from_kind,
        operation,
        source,
    };
    from.start(StartMode::Restarting)
        .await
        .map_err(|e| engine_failure("start", e))?;
    from.apply(&first, &plan(&first, None))
        .await
        .map_err(|e| engine_failure("apply", e))?;
    rollback.restarted = Some(run.at());
    let allowed = run.options.rollback_deadline;
    let limit = (Instant::now() + allowed, allowed);
    let mut timings = Timings::default();
    // Interrupts were spent on the handover; the rollback runs to its end.
    run.options.interrupt = None;
    let seen = wait_recovered(run, from, &first, None, limit, &mut timings)
        .await
        .map_err(|(what, _)| what)?;
    rollback.recovered = timings.recovered;
    if first.neighbors.len() == desired.neighbors.len() {
        run.say(
            Step::Rollback,
            format!("{from_kind} holds every session again"),
        );
        return Ok(seen);
    }
    from.apply(desired, &plan(desired, Some(&first)))
        .await
        .map_err(|e| engine_failure("apply the remaining sessions", e))?;
    run.say(
        Step::Rollback,
        format!(
            "{from_kind} has recovered and holds every session again ({} added as ordinary sessions: {})",
            rollback.added_after_recovery.len(),
            rollback
                .added_after_recovery
                .iter()
                .map(|k| k.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    from.observe()
        .await
        .map_err(|e| engine_failure("observe", e))
}
