//! The reconciler: one task that owns the topology store and drives the
//! engine.
//!
//! Invariants:
//! * nothing is applied before the source's first complete snapshot;
//! * a source outage never changes the engine: the last applied config stays;
//! * an empty plan touches nothing (restarts of rrd are silent);
//! * a change removing more than the configured share of sessions is held
//!   until confirmed or stable for `release_after`;
//! * failed applies are retried with exponential backoff and jitter; a
//!   configuration the daemon rejects is reported and not retried until the
//!   topology changes (or the periodic resync).

use std::future::Future;
use std::sync::Arc;

use rrd_core::check::this_rr_warnings;
use rrd_core::{
    compute, plan, BgpEngine, DaemonState, EngineError, EventSink, PeerSource, RrConfig,
    RrIdentity, SourceEvent, SourceStatus, StartMode, Topology,
};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::drift::DriftWatch;
use crate::metrics::Metrics;
use crate::settings::RuntimeSettings;
use crate::status::{now_unix, DesiredSession, PendingRemoval, Status};

/// Requests to a running reconciler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Apply a change held by the mass-removal guard.
    AllowMassRemoval,
    /// Reconcile now instead of waiting for the next resync.
    ReconcileNow,
}

/// The handle other tasks (HTTP, signals) use to talk to the reconciler.
#[derive(Clone, Debug)]
pub struct ControlHandle {
    tx: mpsc::Sender<Control>,
    status: watch::Receiver<Status>,
    metrics: Arc<Metrics>,
}

impl ControlHandle {
    pub async fn send(&self, control: Control) -> bool {
        self.tx.send(control).await.is_ok()
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// The Prometheus exposition of the current status.
    pub fn metrics(&self) -> String {
        self.metrics.render(&self.status())
    }
}

/// Why the loop ended on its own.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the {0} source stopped unexpectedly")]
    SourceStopped(&'static str),
}

/// The reconciliation loop of one RR.
#[derive(Debug)]
pub struct Reconciler<S, E> {
    source: S,
    engine: E,
    identity: RrIdentity,
    settings: RuntimeSettings,
    status_tx: watch::Sender<Status>,
    control_tx: mpsc::Sender<Control>,
    control_rx: mpsc::Receiver<Control>,
    metrics: Arc<Metrics>,
}

/// Loop-local state that is not published.
struct LoopState {
    store: Option<Topology>,
    /// First and last change of the current burst.
    dirty: Option<(Instant, Instant)>,
    retry_at: Option<Instant>,
    backoff: Backoff,
    engine_started: bool,
    /// Desired config held by the mass-removal guard, and since when.
    held_back: Option<(RrConfig, Instant)>,
    allow_mass_removal: bool,
    last_diagnostics: Vec<String>,
    /// The last observation found the daemon unreachable.
    daemon_was_down: bool,
    drift: DriftWatch,
}

impl<S: PeerSource, E: BgpEngine> Reconciler<S, E> {
    pub fn new(source: S, engine: E, identity: RrIdentity, settings: RuntimeSettings) -> Self {
        let (control_tx, control_rx) = mpsc::channel(16);
        let source_info = source.info();
        let engine_info = engine.info();
        let mut status = Status {
            started_unix: now_unix(),
            updated_unix: now_unix(),
            ..Status::default()
        };
        status.source.kind = source_info.kind.into();
        status.source.location = source_info.location;
        status.engine.kind = engine_info.kind.into();
        status.engine.version = engine_info.version;
        status.engine.endpoint = engine_info.endpoint;
        let metrics = Arc::new(Metrics::new(engine_info.kind, source_info.kind));
        let (status_tx, _) = watch::channel(status);
        Reconciler {
            metrics,
            source,
            engine,
            identity,
            settings,
            status_tx,
            control_tx,
            control_rx,
        }
    }

    /// Say how the datastore (API, layout) was chosen, in status.
    pub fn with_source_choice(self, choice: String) -> Self {
        self.status_tx
            .send_modify(|s| s.source.choice = Some(choice));
        self
    }

    pub fn handle(&self) -> ControlHandle {
        ControlHandle {
            tx: self.control_tx.clone(),
            status: self.status_tx.subscribe(),
            metrics: self.metrics.clone(),
        }
    }

    /// Run until `shutdown` resolves. Returns the engine so the caller
    /// decides whether the daemon keeps running (the default: sessions stay
    /// up while rrd restarts).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<E, RuntimeError> {
        let Reconciler {
            source,
            engine,
            identity,
            settings,
            status_tx,
            control_rx,
            metrics,
            ..
        } = self;
        let source_kind = source.info().kind;
        let (sink, events) = EventSink::channel(1024);
        let _watcher = AbortOnDrop(tokio::spawn(source.watch(sink)));
        let driver = Driver {
            st: LoopState {
                store: None,
                dirty: None,
                retry_at: None,
                backoff: Backoff::new(settings.backoff_initial, settings.backoff_max),
                engine_started: false,
                held_back: None,
                allow_mass_removal: false,
                last_diagnostics: Vec::new(),
                daemon_was_down: false,
                drift: DriftWatch::default(),
            },
            engine,
            identity,
            settings,
            status_tx,
            metrics,
        };
        driver.run(source_kind, events, control_rx, shutdown).await
    }
}

/// The loop's owner once running: the engine, the store and the status.
struct Driver<E> {
    st: LoopState,
    engine: E,
    identity: RrIdentity,
    settings: RuntimeSettings,
    status_tx: watch::Sender<Status>,
    metrics: Arc<Metrics>,
}

impl<E: BgpEngine> Driver<E> {
    fn update(&self, f: impl FnOnce(&mut Status)) {
        self.status_tx.send_modify(|s| {
            f(s);
            s.updated_unix = now_unix();
        });
    }

    async fn run(
        mut self,
        source_kind: &'static str,
        mut events: mpsc::Receiver<SourceEvent>,
        mut control_rx: mpsc::Receiver<Control>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<E, RuntimeError> {
        self.start_engine().await;
        let mut resync = tokio::time::interval(self.settings.resync_interval);
        resync.reset();
        let mut observe = tokio::time::interval(self.settings.observe_interval);
        tokio::pin!(shutdown);
        loop {
            let debounce_at = self.st.dirty.map(|(first, last)| {
                (last + self.settings.debounce).min(first + self.settings.debounce_max)
            });
            let retry_at = self.st.retry_at;
            tokio::select! {
                () = &mut shutdown => {
                    info!("shutting down; the daemon keeps its sessions");
                    return Ok(self.engine);
                }
                event = events.recv() => {
                    let Some(event) = event else {
                        error!(source = source_kind, "source stopped");
                        return Err(RuntimeError::SourceStopped(source_kind));
                    };
                    self.on_source_event(event);
                }
                () = sleep_until(debounce_at.unwrap_or_else(far_future)), if debounce_at.is_some() => {
                    self.st.dirty = None;
                    self.reconcile().await;
                }
                () = sleep_until(retry_at.unwrap_or_else(far_future)), if retry_at.is_some() => {
                    self.st.retry_at = None;
                    self.reconcile().await;
                }
                _ = resync.tick() => {
                    debug!("periodic resync");
                    self.reconcile().await;
                }
                _ = observe.tick() => {
                    self.observe().await;
                }
                Some(control) = control_rx.recv() => {
                    if control == Control::AllowMassRemoval {
                        info!("mass removal confirmed by the operator");
                        self.st.allow_mass_removal = true;
                    }
                    self.reconcile().await;
                }
            }
        }
    }

    async fn start_engine(&mut self) {
        match self.engine.start(StartMode::Fresh).await {
            Ok(()) => {
                self.st.engine_started = true;
                let info = self.engine.info();
                self.update(|s| {
                    s.engine.version = info.version;
                    s.engine.last_error = None;
                });
            }
            Err(e) => self.engine_failed("start", e),
        }
    }

    fn on_source_event(&mut self, event: SourceEvent) {
        match event {
            SourceEvent::Snapshot(topology) => {
                info!(
                    nodes = topology.nodes.len(),
                    peers = topology.peers.len(),
                    rrs = topology.route_reflectors.len(),
                    "complete topology received"
                );
                let changed = self.st.store.as_ref() != Some(&topology);
                self.st.store = Some(topology);
                self.update(|s| {
                    s.source.synced = true;
                    reachable(s);
                    s.source.snapshots += 1;
                });
                if changed {
                    mark_dirty(&mut self.st);
                }
            }
            SourceEvent::Changes(changes) => {
                let Some(store) = self.st.store.as_mut() else {
                    warn!("changes before the first snapshot ignored");
                    return;
                };
                let mut changed = false;
                for c in changes {
                    changed |= store.apply(c);
                }
                self.update(|s| s.source.change_batches += 1);
                if changed {
                    mark_dirty(&mut self.st);
                }
            }
            SourceEvent::Rejected { key, reason } => {
                warn!(key = %key, reason = %reason, "datastore entry skipped");
                self.update(|s| {
                    s.source.rejected_entries += 1;
                    s.source.last_rejection = Some(format!("{key}: {reason}"));
                });
            }
            SourceEvent::Status(SourceStatus::Connected) => {
                info!("datastore reachable again");
                self.update(reachable);
            }
            SourceEvent::Status(SourceStatus::Unreachable { error, retry_in }) => {
                warn!(error = %error, retry_in = ?retry_in, "datastore unreachable; keeping the last applied configuration");
                self.update(|s| {
                    s.source.connected = false;
                    s.source.last_error = Some(error);
                    s.source.unreachable_since_unix.get_or_insert_with(now_unix);
                });
            }
            SourceEvent::Status(SourceStatus::Resyncing { reason }) => {
                info!(reason = %reason, "source re-reading the datastore");
            }
            SourceEvent::Status(SourceStatus::Located { location }) => {
                info!(location = %location, "datastore located");
                self.update(|s| s.source.location = location);
            }
        }
    }

    async fn reconcile(&mut self) {
        if self.st.store.is_none() {
            debug!("no complete read yet; nothing applied");
            return;
        }
        if !self.st.engine_started {
            self.start_engine().await;
            if !self.st.engine_started {
                return;
            }
        }
        let Some(topology) = self.st.store.as_ref() else {
            return;
        };
        let computed = match compute(topology, &self.identity) {
            Ok(c) => c,
            Err(e) => {
                error!(error = %e, "cannot compute this RR's configuration; the daemon keeps its current one");
                self.update(|s| {
                    s.compute_error = Some(e.to_string());
                    s.in_sync = false;
                });
                return;
            }
        };
        let desired = computed.config;
        let diagnostics: Vec<String> = computed
            .diagnostics
            .iter()
            .chain(&this_rr_warnings(topology, &self.identity, &desired))
            .map(ToString::to_string)
            .collect();
        if diagnostics != self.st.last_diagnostics {
            for d in &diagnostics {
                warn!(diagnostic = %d, "topology");
            }
            self.st.last_diagnostics = diagnostics.clone();
        }
        self.update(|s| {
            s.compute_error = None;
            s.rules = Some(match desired.router.rules {
                rrd_core::RuleSet::Legacy => "legacy".into(),
                rrd_core::RuleSet::CalicoV3 => "calico-v3".into(),
            });
            s.router_id = Some(desired.router.router_id.to_string());
            s.local_as = Some(desired.router.local_as);
            s.cluster_id = desired.router.cluster_id;
            s.desired = desired
                .neighbors
                .iter()
                .map(|(k, n)| (k.clone(), DesiredSession::from(n)))
                .collect();
            s.diagnostics = diagnostics;
        });

        let held = match self.engine.held().await {
            Ok(h) => h,
            Err(e) => return self.engine_failed("read held configuration", e),
        };
        let plan = plan(&desired, held.as_ref());
        if plan.is_empty() {
            self.st.drift.applied(&desired);
            self.st.backoff.reset();
            self.st.held_back = None;
            self.st.allow_mass_removal = false;
            self.update(|s| {
                // An empty plan repairs no drift: it stays out of sync.
                s.in_sync = s.drift.is_none();
                s.pending_mass_removal = None;
                s.applies.noop += 1;
                s.engine.last_error = None;
            });
            return;
        }

        if let Some(held) = &held {
            if self.hold_mass_removal(&desired, held.neighbors.len(), plan.remove.len()) {
                return;
            }
        }

        let started = Instant::now();
        let applied = self.engine.apply(&desired, &plan).await;
        self.metrics.apply_took(started.elapsed());
        match applied {
            Ok(report) => {
                self.st.drift.applied(&desired);
                self.st.backoff.reset();
                self.st.held_back = None;
                self.st.allow_mass_removal = false;
                if report.changed {
                    info!(plan = %plan.summary(), operations = ?report.operations, "engine updated");
                }
                self.update(|s| {
                    s.in_sync = true;
                    s.pending_mass_removal = None;
                    s.engine.rejected = None;
                    s.engine.last_error = None;
                    if report.changed {
                        s.applies.changed += 1;
                        s.applies.last_apply_unix = Some(now_unix());
                        s.applies.last_plan = Some(plan.summary());
                    } else {
                        s.applies.noop += 1;
                    }
                });
            }
            Err(e) if !e.is_retryable() => {
                error!(error = %e, "configuration REJECTED; the daemon keeps running its previous configuration");
                self.update(|s| {
                    s.in_sync = false;
                    s.applies.rejected += 1;
                    s.engine.rejected = Some(e.to_string());
                });
            }
            Err(e) => self.engine_failed("apply", e),
        }
    }

    /// The mass-removal guard. Returns true when the change is held.
    fn hold_mass_removal(
        &mut self,
        desired: &RrConfig,
        held_sessions: usize,
        removes: usize,
    ) -> bool {
        let guard = &self.settings.mass_removal;
        let massive = held_sessions >= guard.min_sessions
            && (removes as f64) > guard.threshold * held_sessions as f64;
        if !massive || self.st.allow_mass_removal {
            return false;
        }
        let now = Instant::now();
        let since = match &self.st.held_back {
            Some((cfg, since)) if cfg == desired => *since,
            _ => now,
        };
        let release = guard.release_after;
        if !release.is_zero() && now.duration_since(since) >= release {
            warn!(
                removes,
                held_sessions, "mass removal stable for {release:?}; applying it"
            );
            return false;
        }
        if self.st.held_back.as_ref().map(|(c, _)| c) != Some(desired) {
            warn!(
                removes,
                held_sessions,
                threshold = guard.threshold,
                "change would remove too many sessions at once; held until `rrd apply --allow-mass-removal` or stable for {release:?}"
            );
        }
        self.st.held_back = Some((desired.clone(), since));
        let since_unix = now_unix().saturating_sub(now.duration_since(since).as_secs());
        self.update(|s| {
            s.in_sync = false;
            s.applies.held += 1;
            s.pending_mass_removal = Some(PendingRemoval {
                removes,
                held_sessions,
                since_unix,
                release_at_unix: (!release.is_zero()).then(|| since_unix + release.as_secs()),
            });
        });
        true
    }

    fn engine_failed(&mut self, operation: &str, e: EngineError) {
        let delay = self.st.backoff.next_delay();
        self.st.retry_at = Some(Instant::now() + delay);
        warn!(operation, error = %e, retry_in = ?delay, "engine operation failed; will retry");
        self.update(|s| {
            s.in_sync = false;
            s.applies.failed += 1;
            s.engine.last_error = Some(format!("{operation}: {e}"));
        });
    }

    async fn observe(&mut self) {
        if !self.st.engine_started {
            return;
        }
        let observation = match self.engine.observe().await {
            Ok(o) => o,
            Err(e) => {
                debug!(error = %e, "observe failed");
                self.daemon_down(format!("down: {e}"));
                return;
            }
        };
        if let DaemonState::Down { reason } = &observation.daemon {
            self.daemon_down(format!("down: {reason}"));
            return;
        }
        if std::mem::take(&mut self.st.daemon_was_down) {
            info!("the daemon is reachable again; reconciling");
            self.reconcile().await;
        }
        let daemon = match &observation.daemon {
            DaemonState::Running => "running".to_string(),
            DaemonState::Unconfigured => "unconfigured".to_string(),
            DaemonState::Down { reason } => format!("down: {reason}"),
        };
        let unconfigured = observation.daemon == DaemonState::Unconfigured;
        let version = self.engine.info().version;
        let restarts = self.engine.daemon_restarts();
        if unconfigured {
            self.st.drift.forget();
        }
        let verdict = self.st.drift.observe(
            &observation.sessions,
            Instant::now(),
            now_unix(),
            self.settings.resync_interval,
        );
        crate::drift::log(&verdict);
        self.metrics
            .observe_sessions(&observation.sessions, &self.status_tx.borrow().desired);
        self.update(|s| {
            s.engine.daemon = daemon;
            if version.is_some() {
                s.engine.version = version;
            }
            s.engine.daemon_restarts = restarts;
            s.sessions = observation.sessions;
            if verdict.report.is_some() {
                s.in_sync = false;
            } else if verdict.changed && s.engine.rejected.is_none() {
                // Drift gone (repaired, or undone by hand).
                s.in_sync = s.pending_mass_removal.is_none() && s.engine.last_error.is_none();
            }
            s.drift = verdict.report;
            s.applies.drift_repairs += u64::from(verdict.repair);
        });
        if verdict.repair {
            self.reconcile().await;
        }
        if unconfigured && self.st.store.is_some() && self.st.retry_at.is_none() {
            warn!("the daemon holds no configuration (restarted?); re-creating it");
            self.reconcile().await;
        }
        if let Some((_, since)) = &self.st.held_back {
            let release = self.settings.mass_removal.release_after;
            if !release.is_zero() && since.elapsed() >= release {
                self.reconcile().await;
            }
        }
    }
}

impl<E: BgpEngine> Driver<E> {
    /// The daemon cannot be reached: not in sync (so `/readyz` fails) until
    /// it is back and reconciled.
    fn daemon_down(&mut self, text: String) {
        if !self.st.daemon_was_down {
            warn!(daemon = %text, "BGP daemon unreachable");
        }
        self.st.daemon_was_down = true;
        self.metrics.daemon_unobservable();
        self.update(|s| {
            s.engine.daemon = text;
            s.in_sync = false;
            s.sessions.clear();
        });
    }
}

/// The datastore answers (again).
fn reachable(s: &mut Status) {
    if s.source.unreachable_since_unix.take().is_some() {
        s.source.reconnects += 1;
    }
    s.source.connected = true;
    s.source.last_error = None;
}

fn mark_dirty(st: &mut LoopState) {
    let now = Instant::now();
    st.dirty = Some(match st.dirty {
        Some((first, _)) => (first, now),
        None => (now, now),
    });
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(86_400 * 365)
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
