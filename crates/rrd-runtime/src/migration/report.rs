//! What a migration tells its operator: progress lines as it goes, a
//! report at the end, and typed errors that say whether anything was
//! stopped and which daemon holds the sessions now.

use std::fmt;
use std::time::Duration;

use rrd_core::{EngineError, EngineInfo, PeerKey};

/// The steps of the migration (docs/migration.md), for progress lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// (1) The desired config and the route counts the source holds.
    Snapshot,
    /// (2) Source in sync, graceful restart everywhere, target empty.
    Check,
    /// (3) The source stops without NOTIFICATIONs.
    Stop,
    /// (4) The target starts as a restarting speaker with everything.
    Start,
    /// (5) Sessions Established, End-of-RIB exchanged.
    Recovery,
    /// (6) Route counts compared with the snapshot.
    Routes,
    /// The target holds every session.
    Done,
    /// (7) Back to the source.
    Rollback,
}

impl Step {
    pub fn label(self) -> &'static str {
        match self {
            Step::Snapshot => "1 snapshot",
            Step::Check => "2 check",
            Step::Stop => "3 stop",
            Step::Start => "4 start",
            Step::Recovery => "5 recovery",
            Step::Routes => "6 routes",
            Step::Done => "done",
            Step::Rollback => "7 rollback",
        }
    }
}

/// One progress line: when (since the migration began), which step, what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub at: Duration,
    pub step: Step,
    pub message: String,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:>8.3}s] {:<10} {}",
            self.at.as_secs_f64(),
            self.step.label(),
            self.message
        )
    }
}

/// Route counts of one session, as the daemon reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub received: Option<u64>,
    pub sent: Option<u64>,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        write!(f, "{} in / {} out", n(self.received), n(self.sent))
    }
}

/// One session before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionReport {
    pub key: PeerKey,
    /// On the source, before it stopped.
    pub before: Counts,
    /// On the daemon that holds the session at the end (the target, or the
    /// source after a rollback); `None` when it never reported it.
    pub after: Option<Counts>,
}

/// When each step ended, since the migration began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// Snapshot taken and every check passed.
    pub checked: Option<Duration>,
    /// The source daemon is gone (its peers keep its routes as stale).
    pub stopped: Option<Duration>,
    /// The target holds the whole configuration.
    pub started: Option<Duration>,
    /// Every session Established on the target.
    pub established: Option<Duration>,
    /// End-of-RIB exchanged on every session.
    pub recovered: Option<Duration>,
    /// Route counts back to the snapshot's.
    pub routes_matched: Option<Duration>,
}

impl Timings {
    /// From the source's stop until the target held every route: how long
    /// clients lived on stale routes.
    pub fn handover(&self) -> Option<Duration> {
        Some(self.routes_matched?.saturating_sub(self.stopped?))
    }
}

/// What a rollback did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollbackReport {
    /// Why the handover was abandoned.
    pub cause: String,
    /// Sessions that had come up on the target while it still held back
    /// its routes: stopping the target restarts their graceful restart,
    /// and BIRD (1.6 and 2) then drops the routes it kept (a restart while
    /// one is pending ends the first one) until the source has recovered.
    pub up_without_routes: Vec<PeerKey>,
    /// Sessions that had not come up on the target: the source restarted
    /// without them (it would have held back every route until their
    /// End-of-RIB) and got them as ordinary sessions once it had recovered.
    pub added_after_recovery: Vec<PeerKey>,
    /// Since the migration began: the source runs again with its config.
    pub restarted: Option<Duration>,
    /// Since the migration began: the source has recovered every session.
    pub recovered: Option<Duration>,
    /// Problems on the way that did not stop it (a target that would not
    /// stop cleanly).
    pub notes: Vec<String>,
}

/// The whole story of one migration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationReport {
    pub from: EngineInfo,
    pub to: EngineInfo,
    pub sessions: Vec<SessionReport>,
    pub timings: Timings,
    pub rollback: Option<RollbackReport>,
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms =
            |d: Option<Duration>| d.map_or_else(|| "-".to_owned(), |d| d.as_millis().to_string());
        let t = &self.timings;
        writeln!(
            f,
            "{} -> {}: {} sessions",
            self.from.kind,
            self.to.kind,
            self.sessions.len()
        )?;
        let since_stop =
            |d: Option<Duration>| ms(d.zip(t.stopped).map(|(d, s)| d.saturating_sub(s)));
        writeln!(
            f,
            "handover {} ms: stop -> target configured {} ms, -> all Established {} ms, -> End-of-RIB exchanged {} ms, -> route counts matched {} ms",
            ms(t.handover()),
            since_stop(t.started),
            since_stop(t.established),
            since_stop(t.recovered),
            since_stop(t.routes_matched),
        )?;
        for s in &self.sessions {
            let after = s
                .after
                .map_or_else(|| "not seen".to_owned(), |c| c.to_string());
            writeln!(f, "  {:<32} before {}, after {}", s.key.0, s.before, after)?;
        }
        if let Some(r) = &self.rollback {
            writeln!(
                f,
                "rolled back ({}): {} restarted at {} ms, recovered at {} ms",
                r.cause,
                self.from.kind,
                ms(r.restarted),
                ms(r.recovered)
            )?;
            if !r.added_after_recovery.is_empty() {
                writeln!(
                    f,
                    "  sessions that had not come up on {}, given back to {} once it had recovered: {}",
                    self.to.kind,
                    self.from.kind,
                    keys(&r.added_after_recovery)
                )?;
            }
            if !r.up_without_routes.is_empty() {
                writeln!(
                    f,
                    "  sessions that were up on {} without its routes (their clients dropped the RR's routes until the rollback recovered): {}",
                    self.to.kind,
                    keys(&r.up_without_routes)
                )?;
            }
            for n in &r.notes {
                writeln!(f, "  note: {n}")?;
            }
        }
        Ok(())
    }
}

/// One session and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionProblem {
    pub key: PeerKey,
    pub problem: String,
}

impl fmt::Display for SessionProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

fn keys(k: &[PeerKey]) -> String {
    k.iter()
        .map(|k| k.0.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn problems(p: &[SessionProblem]) -> String {
    p.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a migration did not start: nothing was stopped, the source daemon
/// still holds every session.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("cannot attach to the source daemon ({engine}): {source}")]
    SourceStart {
        engine: &'static str,
        #[source]
        source: EngineError,
    },
    #[error("cannot observe the source daemon ({engine}): {reason}")]
    SourceDown {
        engine: &'static str,
        reason: String,
    },
    #[error("{engine} does not hold the configuration the datastore implies (plan {plan}): run `rrd run` until `rrd status` is ready, stop it, then migrate")]
    NotInSync { engine: &'static str, plan: String },
    #[error("not every session can survive the handover: {}", problems(.0))]
    Sessions(Vec<SessionProblem>),
    #[error("the target ({engine}) cannot take over the source daemon's look: {source}")]
    TargetCarryOver {
        engine: &'static str,
        #[source]
        source: EngineError,
    },
    #[error("cannot start the target daemon ({engine}) as a restarting speaker: {source}")]
    TargetStart {
        engine: &'static str,
        #[source]
        source: EngineError,
    },
    #[error("the target daemon ({engine}) already holds a configuration ({sessions} sessions): it must start empty")]
    TargetNotEmpty {
        engine: &'static str,
        sessions: usize,
    },
    #[error("interrupted by the operator")]
    Interrupted,
    #[error("cannot read what the target daemon ({engine}) holds: {source}")]
    TargetUnknown {
        engine: &'static str,
        #[source]
        source: EngineError,
    },
}

/// Why a handover was abandoned after the source had been stopped.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{engine}: {operation} failed: {source}")]
    Engine {
        engine: &'static str,
        operation: &'static str,
        #[source]
        source: EngineError,
    },
    #[error("deadline of {deadline:?} passed: {}", problems(.pending))]
    Deadline {
        deadline: Duration,
        pending: Vec<SessionProblem>,
    },
    #[error("fewer routes than before the handover: {}", problems(.0))]
    RoutesMissing(Vec<SessionProblem>),
    #[error("interrupted by the operator")]
    Interrupted,
}

/// A migration that did not end with the target holding every session.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("refused, nothing was stopped: {0}")]
    Refused(#[source] Refusal),
    /// The source daemon was restarted with its configuration and holds
    /// the sessions again.
    #[error("handover failed ({cause}); rolled back: the source daemon holds the sessions again")]
    RolledBack {
        cause: Failure,
        report: Box<MigrationReport>,
    },
    /// Neither daemon is known to hold the sessions: clients keep the RR's
    /// routes as stale until its restart time runs out.
    #[error("handover failed ({cause}) and so did the rollback ({rollback}): clients keep the RR's routes only until their graceful-restart timers expire")]
    RollbackFailed {
        cause: Failure,
        rollback: Failure,
        report: Box<MigrationReport>,
    },
}

impl MigrationError {
    /// The report, when the migration got as far as stopping the source.
    pub fn report(&self) -> Option<&MigrationReport> {
        match self {
            MigrationError::Refused(_) => None,
            MigrationError::RolledBack { report, .. }
            | MigrationError::RollbackFailed { report, .. } => Some(report),
        }
    }
}
