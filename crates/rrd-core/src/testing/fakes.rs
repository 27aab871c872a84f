//! In-memory stand-ins for a datastore and a daemon, used by the runtime's
//! tests. The fake engine applies plans to its held config exactly as a
//! real incremental engine must, so a wrong plan shows up as a wrong state;
//! it can also play either side of a migration (sessions without graceful
//! restart, route counts, a graceful-restart recovery that takes a while).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::engine::{
    ApplyReport, BgpEngine, DaemonState, EngineError, EngineInfo, MigrationRole, Observation,
    Recovery, SessionState, SessionStatus, StartMode, StopMode,
};
use crate::model::{PeerKey, RrConfig, Topology};
use crate::plan::Plan;
use crate::source::{EventSink, PeerSource, SourceError, SourceEvent, SourceInfo};

/// A source whose events come from a test through [`FakeSourceHandle`].
#[derive(Debug)]
pub struct FakeSource {
    script: mpsc::UnboundedReceiver<SourceEvent>,
    current: Arc<Mutex<Option<Topology>>>,
}

/// The test's end of a [`FakeSource`].
#[derive(Clone, Debug)]
pub struct FakeSourceHandle {
    script: mpsc::UnboundedSender<SourceEvent>,
    current: Arc<Mutex<Option<Topology>>>,
}

impl FakeSource {
    pub fn new() -> (FakeSource, FakeSourceHandle) {
        let (tx, rx) = mpsc::unbounded_channel();
        let current = Arc::new(Mutex::new(None));
        (
            FakeSource {
                script: rx,
                current: current.clone(),
            },
            FakeSourceHandle {
                script: tx,
                current,
            },
        )
    }
}

impl FakeSourceHandle {
    /// Emit an event to the runtime.
    pub fn emit(&self, event: SourceEvent) {
        if let SourceEvent::Snapshot(t) = &event {
            *lock(&self.current) = Some(t.clone());
        }
        let _ = self.script.send(event);
    }
}

impl PeerSource for FakeSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "fake",
            location: "memory".into(),
            rules: None,
        }
    }

    async fn snapshot(&mut self) -> Result<Topology, SourceError> {
        lock(&self.current)
            .clone()
            .ok_or_else(|| SourceError::Unreachable {
                location: "memory".into(),
                detail: "no snapshot scripted yet".into(),
                source: None,
            })
    }

    async fn watch(mut self, sink: EventSink) {
        while let Some(event) = self.script.recv().await {
            if sink.send(event).await.is_err() {
                return;
            }
        }
        // Script ended: stay silent, like a datastore with no changes.
        std::future::pending::<()>().await;
    }
}

/// What the fake daemon holds and what was done to it.
#[derive(Debug, Default)]
pub struct FakeEngineState {
    pub held: Option<RrConfig>,
    pub applies: Vec<Plan>,
    /// Fail the next apply with `Unreachable` (the daemon keeps its config).
    pub fail_next_apply: bool,
    /// Reject every apply (as BIRD does with a bad config).
    pub reject: bool,
    pub started: Vec<StartMode>,
    pub stopped: Vec<StopMode>,
    /// The daemon is unreachable: observe reports `DaemonState::Down`.
    pub down: bool,
    /// Fail the next start with `Unreachable`.
    pub fail_next_start: bool,
    /// Stopped and not started since: observe reports the daemon down.
    pub stopped_now: bool,
    /// A stop forgets the held config (a killed gobgpd; BIRD keeps files).
    pub forget_on_stop: bool,
    /// Sessions whose peer announced no graceful restart.
    pub without_graceful_restart: BTreeSet<PeerKey>,
    /// Sessions observed in another state than Established.
    pub session_states: BTreeMap<PeerKey, SessionState>,
    /// `(received, sent)` route counts per session; `(0, 0)` when absent.
    pub routes: BTreeMap<PeerKey, (u64, u64)>,
    /// After a `Restarting` start, how many observations show every
    /// session still awaiting End-of-RIB (`u32::MAX`: for ever).
    pub recovery_observations: u32,
    /// Observations left in the current recovery.
    pub recovering: u32,
    /// Full observations made ([`BgpEngine::observe`]).
    pub observations: u32,
    /// States-only observations made ([`BgpEngine::observe_states`]).
    pub state_observations: u32,
    /// How long each observation takes (virtual time in paused tests).
    pub observe_delay: std::time::Duration,
    /// What [`BgpEngine::looks_may_give_way`] answers.
    pub looks_may_give_way: bool,
    /// What [`BgpEngine::carry_over`] was handed, with the number of
    /// starts before it.
    pub carried_over: Vec<(Observation, usize)>,
}

/// An engine that holds its config in memory.
#[derive(Clone, Debug, Default)]
pub struct FakeEngine {
    pub state: Arc<Mutex<FakeEngineState>>,
}

impl FakeEngine {
    pub fn state(&self) -> MutexGuard<'_, FakeEngineState> {
        lock(&self.state)
    }

    /// Simulate a daemon restart that loses all configuration.
    pub fn forget_everything(&self) {
        self.state().held = None;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeEngine {
    /// What the fake daemon shows now (an observation of either depth).
    fn observation(&self) -> Result<Observation, EngineError> {
        let mut s = self.state();
        let recovery = if s.recovering > 0 {
            if s.recovering != u32::MAX {
                s.recovering -= 1;
            }
            Recovery::AwaitingEndOfRib
        } else {
            Recovery::Done
        };
        if s.down || s.stopped_now {
            return Ok(Observation {
                daemon: DaemonState::Down {
                    reason: "scripted outage".into(),
                },
                sessions: Vec::new(),
            });
        }
        let Some(held) = &s.held else {
            return Ok(Observation {
                daemon: DaemonState::Unconfigured,
                sessions: Vec::new(),
            });
        };
        let sessions = held
            .neighbors
            .iter()
            .map(|(key, n)| {
                let (received, sent) = s.routes.get(key).copied().unwrap_or((0, 0));
                SessionStatus {
                    key: key.clone(),
                    address: n.address,
                    remote_as: Some(n.remote_as),
                    state: s
                        .session_states
                        .get(key)
                        .copied()
                        .unwrap_or(SessionState::Established),
                    since: None,
                    info: String::new(),
                    routes_received: Some(received),
                    routes_sent: Some(sent),
                    peer_graceful_restart: if s.without_graceful_restart.contains(key) {
                        BTreeSet::new()
                    } else {
                        n.families.clone()
                    },
                    rr_client: Some(n.role.is_client()),
                    recovery,
                    peer_router_id: None,
                }
            })
            .collect();
        Ok(Observation {
            daemon: DaemonState::Running,
            sessions,
        })
    }

    /// Wait out [`FakeEngineState::observe_delay`].
    async fn observe_delay(&self) {
        let delay = self.state().observe_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

impl BgpEngine for FakeEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: "fake",
            version: None,
            endpoint: "memory".into(),
        }
    }

    /// One line per session: name, address, remote AS.
    fn render(&self, desired: &RrConfig) -> Result<String, EngineError> {
        Ok(desired
            .neighbors
            .iter()
            .map(|(k, n)| format!("{k} {} AS {}\n", n.address, n.remote_as.0))
            .collect())
    }

    async fn prepare_migration(
        &mut self,
        _role: MigrationRole,
    ) -> Result<Vec<String>, EngineError> {
        Ok(Vec::new())
    }

    fn carry_over(&mut self, source: &Observation, _desired: &RrConfig) -> Result<(), EngineError> {
        let mut s = self.state();
        let starts = s.started.len();
        s.carried_over.push((source.clone(), starts));
        Ok(())
    }

    async fn start(&mut self, mode: StartMode) -> Result<(), EngineError> {
        let mut s = self.state();
        s.started.push(mode);
        if std::mem::take(&mut s.fail_next_start) {
            return Err(EngineError::Unreachable {
                engine: "fake",
                endpoint: "memory".into(),
                detail: "scripted start failure".into(),
            });
        }
        s.stopped_now = false;
        if mode == StartMode::Restarting {
            s.recovering = s.recovery_observations;
        }
        Ok(())
    }

    async fn held(&mut self) -> Result<Option<RrConfig>, EngineError> {
        Ok(self.state().held.clone())
    }

    async fn apply(&mut self, desired: &RrConfig, plan: &Plan) -> Result<ApplyReport, EngineError> {
        let mut s = self.state();
        if std::mem::take(&mut s.fail_next_apply) {
            return Err(EngineError::Unreachable {
                engine: "fake",
                endpoint: "memory".into(),
                detail: "scripted failure".into(),
            });
        }
        if s.reject {
            return Err(EngineError::Rejected {
                engine: "fake",
                reason: "scripted rejection".into(),
            });
        }
        if plan.is_empty() {
            return Ok(ApplyReport::default());
        }
        // Apply the plan itself (not `desired`), so that a wrong plan is
        // caught by comparing the result with `desired`.
        let mut held = s.held.clone().unwrap_or_else(|| RrConfig {
            router: desired.router.clone(),
            neighbors: BTreeMap::new(),
        });
        if let Some(router) = &plan.router {
            held.router = router.clone();
        }
        for key in plan.remove.keys() {
            held.neighbors.remove(key);
        }
        for (key, (_, want)) in &plan.update {
            held.neighbors.insert(key.clone(), want.clone());
        }
        for (key, n) in &plan.add {
            held.neighbors.insert(key.clone(), n.clone());
        }
        s.held = Some(held);
        s.applies.push(plan.clone());
        Ok(ApplyReport {
            changed: true,
            operations: vec![format!("plan {}", plan.summary())],
        })
    }

    fn looks_may_give_way(&self) -> bool {
        self.state().looks_may_give_way
    }

    async fn observe(&mut self) -> Result<Observation, EngineError> {
        self.observe_delay().await;
        self.state().observations += 1;
        self.observation()
    }

    /// The same look as [`BgpEngine::observe`], counted apart.
    async fn observe_states(&mut self) -> Result<Observation, EngineError> {
        self.observe_delay().await;
        self.state().state_observations += 1;
        self.observation()
    }
    async fn stop(&mut self, mode: StopMode) -> Result<(), EngineError> {
        let mut s = self.state();
        s.stopped.push(mode);
        s.stopped_now = true;
        if s.forget_on_stop {
            s.held = None;
        }
        Ok(())
    }
}
