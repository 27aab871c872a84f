//! The reconciler: one task that owns the topology store and drives the
//! engine.
//!
//! Per change, the work is what the change touches: the store is a
//! [`DesiredState`] (which recomputes only the sessions a change affects and
//! keeps only what can matter to this RR), the [`Debounce`] policy applies a
//! change after a quiet period at once and batches bursts, and the plan
//! covers only the touched sessions against what the loop itself last
//! applied. The engine is asked what it holds (a full plan) at start, after
//! a failure, a snapshot, a daemon restart, and at every periodic resync.
//!
//! The daemon is looked at every `observe_interval` for its health and
//! session states ([`BgpEngine::observe_states`], cheap), and in full (route
//! counts: [`BgpEngine::observe`], a listing of every session) every
//! `counts_interval` and when it comes back from an outage. No periodic
//! look starts while a change waits for its apply: the loop awaits a look,
//! so a change arriving meanwhile would wait for it.
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

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use rrd_core::{
    bounded_echo, plan, plan_sessions, BgpEngine, DaemonState, DesiredState, EngineError,
    EventSink, PeerKey, PeerSource, Plan, RrConfig, RrIdentity, SessionState, SessionStatus,
    SourceEvent, SourceStatus, StartMode, Touched,
};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::debounce::Debounce;
use crate::drift::DriftWatch;
use crate::guard::{Disruption, MassChangeGuard, Verdict};
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
    /// Another rrd manages the daemon of this configuration.
    #[error("{0}; stop that rrd first, or give this one its own engine configuration")]
    EngineTaken(EngineError),
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
    /// Nothing before the first complete read.
    store: Option<DesiredState>,
    /// When the changes not yet applied are due.
    debounce: Debounce,
    /// The sessions those changes touched.
    touched: Touched,
    /// What the engine holds as far as this loop knows: what it read from
    /// the engine and applied since. `None`: ask the engine.
    held: Option<RrConfig>,
    /// `Status::desired` matches the store but for the touched sessions.
    desired_published: bool,
    /// [`DesiredState::this_rr_warnings`] as of the last change of sessions.
    rr_warnings: Option<Vec<rrd_core::Diagnostic>>,
    retry_at: Option<Instant>,
    backoff: Backoff,
    engine_started: bool,
    /// Desired config held by the mass-removal guard, and since when.
    held_back: Option<(RrConfig, Instant)>,
    allow_mass_removal: bool,
    last_diagnostics: Vec<String>,
    /// The last observation found the daemon unreachable.
    daemon_was_down: bool,
    /// When the last full observation (route counts) was read.
    counts_read_at: Option<Instant>,
    /// A session came up since: its route counts are read at this time
    /// rather than a whole `counts_interval` later.
    counts_due: Option<Instant>,
    /// Periodic looks in a row that gave way to a datastore change.
    looks_given_way: u32,
    drift: DriftWatch,
    /// What the mass-change guard counts within its window.
    guard: MassChangeGuard,
    /// The plan being applied is a mass change the operator confirmed or
    /// time released: it resets the guard's window.
    mass_change_released: bool,
    /// Entries skipped and still present, oldest first: (key, message).
    rejections: Vec<(String, String)>,
}

/// Rejections remembered to clear `last_rejection` when their keys go.
const MAX_REMEMBERED_REJECTIONS: usize = 1024;

/// Periodic looks in a row that may give way to datastore changes; the
/// next one runs to its end.
const MAX_LOOKS_GIVEN_WAY: u32 = 3;

/// How a periodic look ended.
enum Look {
    Done,
    /// A datastore change came first (`None`: the source stopped).
    GaveWay(Option<Box<SourceEvent>>),
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
                debounce: Debounce::new(settings.debounce, settings.debounce_max),
                touched: Touched::Nothing,
                held: None,
                desired_published: false,
                rr_warnings: None,
                retry_at: None,
                backoff: Backoff::new(settings.backoff_initial, settings.backoff_max),
                engine_started: false,
                held_back: None,
                allow_mass_removal: false,
                last_diagnostics: Vec::new(),
                daemon_was_down: false,
                counts_read_at: None,
                counts_due: None,
                looks_given_way: 0,
                drift: DriftWatch::default(),
                guard: MassChangeGuard::default(),
                mass_change_released: false,
                rejections: Vec::new(),
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
        if let Err(taken) = self.start_engine().await {
            error!(error = %taken, "not starting beside another rrd");
            return Err(RuntimeError::EngineTaken(taken));
        }
        let mut resync = tokio::time::interval(self.settings.resync_interval);
        resync.reset();
        let mut observe = tokio::time::interval(self.settings.observe_interval);
        observe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tokio::pin!(shutdown);
        loop {
            let debounce_at = self.st.debounce.due();
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
                    self.on_source_events(event, &mut events);
                    self.reconcile_if_due().await;
                }
                () = sleep_until(debounce_at.unwrap_or_else(far_future)), if debounce_at.is_some() => {
                    self.st.debounce.take();
                    self.reconcile(false).await;
                }
                () = sleep_until(retry_at.unwrap_or_else(far_future)), if retry_at.is_some() => {
                    self.st.retry_at = None;
                    self.reconcile(true).await;
                }
                _ = resync.tick() => {
                    debug!("periodic resync");
                    self.verify_desired();
                    self.reconcile(true).await;
                }
                // A change waiting for its apply goes first: an observation
                // started now would hold it for as long as it takes.
                _ = observe.tick(), if debounce_at.is_none() => {
                    if let Look::GaveWay(event) = self.observe(&mut events).await {
                        let Some(event) = event else {
                            error!(source = source_kind, "source stopped");
                            return Err(RuntimeError::SourceStopped(source_kind));
                        };
                        self.on_source_events(*event, &mut events);
                        self.reconcile_if_due().await;
                    }
                }
                Some(control) = control_rx.recv() => {
                    if control == Control::AllowMassRemoval {
                        info!("mass removal confirmed by the operator");
                        self.st.allow_mass_removal = true;
                    }
                    self.reconcile(true).await;
                }
            }
        }
    }

    /// Apply a change that is due now (one after a quiet period) without
    /// going back to the loop's timer: tokio's timer rounds a deadline up
    /// to its next millisecond tick, about a millisecond on every isolated
    /// change.
    async fn reconcile_if_due(&mut self) {
        if self
            .st
            .debounce
            .due()
            .is_some_and(|at| at <= Instant::now())
        {
            self.st.debounce.take();
            self.reconcile(false).await;
        }
    }

    /// Start (or adopt) the daemon; a failure is retried with backoff,
    /// except another rrd managing it: that is returned, the loop ends.
    async fn start_engine(&mut self) -> Result<(), EngineError> {
        match self.engine.start(StartMode::Fresh).await {
            Ok(()) => {
                self.st.engine_started = true;
                let info = self.engine.info();
                self.update(|s| {
                    s.engine.version = info.version;
                    s.engine.last_error = None;
                });
            }
            Err(e @ EngineError::ManagedElsewhere { .. }) => return Err(e),
            Err(e) => self.engine_failed("start", e),
        }
        Ok(())
    }

    /// `first` and whatever else is queued: one batch.
    fn on_source_events(&mut self, first: SourceEvent, events: &mut mpsc::Receiver<SourceEvent>) {
        self.on_source_event(first);
        while let Ok(event) = events.try_recv() {
            self.on_source_event(event);
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
                let touched = match self.st.store.as_mut() {
                    Some(store) => store.replace(topology),
                    None => {
                        self.st.store = Some(DesiredState::new(self.identity.clone(), topology));
                        Touched::Everything
                    }
                };
                self.update(|s| {
                    s.source.synced = true;
                    reachable(s);
                    s.source.snapshots += 1;
                });
                self.mark_dirty(touched);
            }
            SourceEvent::Changes(changes) => {
                let Some(store) = self.st.store.as_mut() else {
                    warn!("changes before the first snapshot ignored");
                    return;
                };
                // Debug: the timestamps that split a change's latency
                // (rrd-bench `--rrd-log info,rrd_runtime=debug`).
                debug!(changes = changes.len(), "datastore changes received");
                let touched = store.apply(changes);
                self.update(|s| s.source.change_batches += 1);
                self.mark_dirty(touched);
            }
            SourceEvent::Rejected { key, reason } => {
                let (key, reason) = (bounded_echo(&key), bounded_echo(&reason));
                warn!(key = %key, reason = %reason, "datastore entry skipped");
                let text = format!("{key}: {reason}");
                self.st.rejections.retain(|(k, _)| *k != key);
                if self.st.rejections.len() >= MAX_REMEMBERED_REJECTIONS {
                    self.st.rejections.remove(0);
                }
                self.st.rejections.push((key, text.clone()));
                self.update(|s| {
                    s.source.rejected_entries += 1;
                    s.source.last_rejection = Some(text);
                });
            }
            SourceEvent::Resolved { key } => {
                let key = bounded_echo(&key);
                let before = self.st.rejections.len();
                self.st.rejections.retain(|(k, _)| *k != key);
                if self.st.rejections.len() != before {
                    info!(key = %key, "skipped datastore entry gone or fixed");
                    let last = self.st.rejections.last().map(|(_, text)| text.clone());
                    self.update(|s| s.source.last_rejection = last);
                }
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

    /// The periodic resync's check of the change-by-change configuration
    /// against a full computation; a disagreement is a defect, logged, and
    /// the full computation stands (the reconcile that follows applies it).
    fn verify_desired(&mut self) {
        let Some(store) = self.st.store.as_mut() else {
            return;
        };
        if let Err(touched) = store.verify() {
            let differed = match &touched {
                Touched::Nothing => "diagnostics".to_owned(),
                Touched::Sessions(keys) => format!("{} sessions", keys.len()),
                Touched::Everything => "everything".to_owned(),
            };
            error!(
                %differed,
                "the configuration kept change by change disagreed with a full computation; \
                 the full computation stands"
            );
            self.st.touched.merge(touched.clone());
            self.publish_diagnostics(&touched);
        }
    }

    /// Sessions changed: plan them when the debounce says so. A change that
    /// touched no session costs nothing more (diagnostics are published).
    fn mark_dirty(&mut self, touched: Touched) {
        self.publish_diagnostics(&touched);
        if touched.is_nothing() {
            return;
        }
        self.st.touched.merge(touched);
        self.st.debounce.changed(Instant::now());
    }

    /// Warn about new diagnostics once and publish them: the topology's,
    /// and what is suspicious about this RR (re-checked when sessions
    /// changed).
    fn publish_diagnostics(&mut self, touched: &Touched) {
        let Some(store) = self.st.store.as_ref() else {
            return;
        };
        if !touched.is_nothing() || self.st.rr_warnings.is_none() {
            self.st.rr_warnings = Some(store.this_rr_warnings());
        }
        let diagnostics: Vec<String> = store
            .diagnostics()
            .iter()
            .chain(self.st.rr_warnings.iter().flatten())
            .map(ToString::to_string)
            .collect();
        if diagnostics != self.st.last_diagnostics {
            for d in &diagnostics {
                warn!(diagnostic = %d, "topology");
            }
            self.st.last_diagnostics = diagnostics.clone();
            self.update(|s| s.diagnostics = diagnostics);
        }
    }

    /// Make the engine hold the desired configuration. `full`: ask the
    /// engine what it holds and plan everything; otherwise plan only the
    /// sessions changes touched since the last reconcile, against what
    /// this loop last applied (when it knows).
    async fn reconcile(&mut self, full: bool) {
        if self.st.store.is_none() {
            debug!("no complete read yet; nothing applied");
            return;
        }
        if !self.st.engine_started {
            if let Err(e) = self.start_engine().await {
                self.engine_failed("start", e);
            }
            if !self.st.engine_started {
                return;
            }
        }
        let touched = std::mem::take(&mut self.st.touched);
        let Some(store) = self.st.store.as_ref() else {
            return;
        };
        let desired = match store.config() {
            Ok(c) => c,
            Err(e) => {
                error!(error = %e, "cannot compute this RR's configuration; the daemon keeps its current one");
                let text = e.to_string();
                self.st.desired_published = false;
                self.update(|s| {
                    s.compute_error = Some(text);
                    s.in_sync = false;
                });
                return;
            }
        };
        let incremental = std::mem::replace(&mut self.st.desired_published, true);
        publish_desired(&self.status_tx, desired, &touched, incremental);

        // A held-back mass removal is always judged on the whole plan.
        let full = full || self.st.held_back.is_some();
        let partial = match (&self.st.held, &touched) {
            (Some(_), Touched::Sessions(_) | Touched::Nothing) => !full,
            _ => false,
        };
        let (plan, held_sessions) = match (&self.st.held, &touched) {
            (Some(held), Touched::Sessions(keys)) if partial => {
                (plan_sessions(desired, held, keys), held.neighbors.len())
            }
            (Some(held), _) if partial => (Plan::default(), held.neighbors.len()),
            _ => {
                let held = match self.engine.held().await {
                    Ok(h) => h,
                    Err(e) => return self.engine_failed("read held configuration", e),
                };
                let plan = plan(desired, held.as_ref());
                let sessions = held.as_ref().map(|h| h.neighbors.len());
                self.st.held = held;
                (plan, sessions.unwrap_or(0))
            }
        };
        // What the drift watch compares observations with.
        let applied_keys = match &touched {
            Touched::Sessions(keys) if partial => Some(keys),
            _ => None,
        };
        if plan.is_empty() {
            self.st.drift.applied(desired, applied_keys);
            self.st.backoff.reset();
            self.st.held_back = None;
            self.st.allow_mass_removal = false;
            self.st.mass_change_released = false;
            self.update(|s| {
                // An empty plan repairs no drift: it stays out of sync.
                s.in_sync = s.drift.is_none();
                s.pending_mass_removal = None;
                s.applies.noop += 1;
                s.engine.last_error = None;
            });
            return;
        }

        let disruption = Disruption::of(&plan, held_sessions);
        if self.st.held.is_some() {
            // Lent out for the judgement rather than copied: a copy of
            // 2,000 sessions added 2 ms to every apply.
            let store = self.st.store.take();
            let hold = match store.as_ref().map(DesiredState::config) {
                Some(Ok(desired)) => self.hold_mass_change(desired, held_sessions, disruption),
                _ => false,
            };
            self.st.store = store;
            if hold {
                return;
            }
        }

        let Some(store) = self.st.store.as_ref() else {
            return;
        };
        let Ok(desired) = store.config() else {
            return;
        };
        debug!(plan = %plan.summary(), "applying");
        let started = Instant::now();
        let applied = self.engine.apply(desired, &plan).await;
        self.metrics.apply_took(started.elapsed());
        match applied {
            Ok(report) => {
                self.st.drift.applied(desired, applied_keys);
                self.st.backoff.reset();
                self.st.held_back = None;
                if std::mem::take(&mut self.st.mass_change_released) {
                    // Confirmed or released: earlier steps are forgiven.
                    self.st.guard.confirmed();
                } else if self.st.held.is_some() {
                    let guard = &self.settings.mass_removal;
                    self.st
                        .guard
                        .applied(guard, Instant::now(), disruption, held_sessions);
                }
                self.st.allow_mass_removal = false;
                match self.st.held.as_mut() {
                    Some(held) => apply_plan(held, &plan),
                    None => self.st.held = Some(desired.clone()),
                }
                if report.changed {
                    info!(
                        plan = %plan.summary(),
                        operations = %shown_operations(&report.operations),
                        took = ?started.elapsed(),
                        "engine updated"
                    );
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
                self.st.held = None;
                error!(error = %e, "configuration REJECTED; the daemon keeps running its previous configuration");
                self.update(|s| {
                    s.in_sync = false;
                    s.applies.rejected += 1;
                    s.engine.rejected = Some(e.to_string());
                });
            }
            Err(e) => {
                self.st.held = None;
                self.engine_failed("apply", e)
            }
        }
    }

    /// The mass-change guard: a change removing or resetting too many of
    /// the held sessions (with what was applied within the window) waits
    /// for the operator or `release_after`. Returns true when it is held.
    fn hold_mass_change(
        &mut self,
        desired: &RrConfig,
        held_sessions: usize,
        disruption: Disruption,
    ) -> bool {
        let guard = &self.settings.mass_removal;
        let now = Instant::now();
        let verdict = self.st.guard.judge(guard, now, disruption, held_sessions);
        let Verdict::TooMuch { earlier, baseline } = verdict else {
            return false;
        };
        if self.st.allow_mass_removal {
            self.st.mass_change_released = true;
            return false;
        }
        let since = match &self.st.held_back {
            Some((cfg, since)) if cfg == desired => *since,
            _ => now,
        };
        let release = guard.release_after;
        let (removes, resets) = (disruption.removes, disruption.resets);
        if !release.is_zero() && now.duration_since(since) >= release {
            warn!(
                removes,
                resets, held_sessions, "mass change stable for {release:?}; applying it"
            );
            self.st.mass_change_released = true;
            return false;
        }
        if self.st.held_back.as_ref().map(|(c, _)| c) != Some(desired) {
            warn!(
                removes,
                resets,
                earlier_in_window = earlier,
                held_sessions = baseline,
                threshold = guard.threshold,
                "change would remove or reset too many sessions; held until `rrd apply --allow-mass-removal` or stable for {release:?}"
            );
        }
        self.st.held_back = Some((desired.clone(), since));
        let since_unix = now_unix().saturating_sub(now.duration_since(since).as_secs());
        self.update(|s| {
            s.in_sync = false;
            s.applies.held += 1;
            s.pending_mass_removal = Some(PendingRemoval {
                removes,
                resets,
                earlier_in_window: earlier,
                held_sessions: baseline,
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

    /// The periodic look at the daemon. An engine whose looks may give way
    /// ([`BgpEngine::looks_may_give_way`]) has its look dropped when a
    /// datastore change arrives first, so that the change is applied at
    /// once rather than after the look (at 2,000 sessions BIRD takes
    /// about 11 ms to print its table); at most
    /// [`MAX_LOOKS_GIVEN_WAY`] looks in a row, so a steady stream of
    /// changes cannot keep the daemon unobserved.
    async fn observe(&mut self, events: &mut mpsc::Receiver<SourceEvent>) -> Look {
        if !self.st.engine_started {
            return Look::Done;
        }
        // Route counts every `counts_interval` (and when the daemon comes
        // back); the states alone otherwise. Half an interval of slack so
        // that a tick a hair early does not put the counts off by one.
        let slack = self.settings.observe_interval / 2;
        let full = self.st.daemon_was_down
            || self.st.counts_due.is_some_and(|at| Instant::now() >= at)
            || self
                .st
                .counts_read_at
                .is_none_or(|at| at.elapsed() + slack >= self.settings.counts_interval);
        let started = Instant::now();
        let may_give_way =
            self.engine.looks_may_give_way() && self.st.looks_given_way < MAX_LOOKS_GIVEN_WAY;
        let engine = &mut self.engine;
        let look = async move {
            if full {
                engine.observe().await
            } else {
                engine.observe_states().await
            }
        };
        let observed = if may_give_way {
            tokio::select! {
                biased;
                event = events.recv() => {
                    debug!(full, after = ?started.elapsed(), "look gave way to a datastore change");
                    self.st.looks_given_way += 1;
                    return Look::GaveWay(event.map(Box::new));
                }
                observed = look => observed,
            }
        } else {
            look.await
        };
        self.st.looks_given_way = 0;
        debug!(full, took = ?started.elapsed(), "looked at the daemon");
        let observation = match observed {
            Ok(o) => o,
            Err(e) => {
                debug!(error = %e, "observe failed");
                self.daemon_down(format!("down: {e}"));
                return Look::Done;
            }
        };
        if let DaemonState::Down { reason } = &observation.daemon {
            self.daemon_down(format!("down: {reason}"));
            return Look::Done;
        }
        let counts_observed = (full && observation.daemon == DaemonState::Running).then(|| {
            self.st.counts_read_at = Some(started);
            self.st.counts_due = None;
            now_unix()
        });
        if !full && self.st.counts_due.is_none() && self.came_up(&observation.sessions) {
            self.st.counts_due = Some(Instant::now() + COUNTS_AFTER_SESSION_UP);
        }
        if std::mem::take(&mut self.st.daemon_was_down) {
            info!("the daemon is reachable again; reconciling");
            self.st.held = None;
            self.reconcile(true).await;
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
            if counts_observed.is_some() {
                s.engine.counts_observed_unix = counts_observed;
            }
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
            self.st.held = None;
            self.reconcile(true).await;
        }
        if unconfigured && self.st.store.is_some() && self.st.retry_at.is_none() {
            warn!("the daemon holds no configuration (restarted?); re-creating it");
            self.st.held = None;
            self.reconcile(true).await;
        }
        if let Some((_, since)) = &self.st.held_back {
            let release = self.settings.mass_removal.release_after;
            if !release.is_zero() && since.elapsed() >= release {
                self.reconcile(true).await;
            }
        }
        Look::Done
    }
}

impl<E: BgpEngine> Driver<E> {
    /// Whether a session is Established in `sessions` that was not in the
    /// last observation (its route counts are still those of before).
    fn came_up(&self, sessions: &[SessionStatus]) -> bool {
        let status = self.status_tx.borrow();
        let was_up: BTreeSet<&PeerKey> = status
            .sessions
            .iter()
            .filter(|s| s.state == SessionState::Established)
            .map(|s| &s.key)
            .collect();
        sessions
            .iter()
            .any(|s| s.state == SessionState::Established && !was_up.contains(&s.key))
    }

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

/// Publish the desired sessions: with `incremental`, only those `touched`
/// (the status holds the rest already).
fn publish_desired(
    status: &watch::Sender<Status>,
    desired: &RrConfig,
    touched: &Touched,
    incremental: bool,
) {
    status.send_modify(|s| {
        s.updated_unix = now_unix();
        s.compute_error = None;
        s.rules = Some(match desired.router.rules {
            rrd_core::RuleSet::Legacy => "legacy".into(),
            rrd_core::RuleSet::CalicoV3 => "calico-v3".into(),
        });
        s.router_id = Some(desired.router.router_id.to_string());
        s.local_as = Some(desired.router.local_as);
        s.cluster_id = desired.router.cluster_id;
        match touched {
            Touched::Sessions(keys) if incremental => {
                for k in keys {
                    match desired.neighbors.get(k) {
                        Some(n) => {
                            s.desired.insert(k.clone(), DesiredSession::from(n));
                        }
                        None => {
                            s.desired.remove(k);
                        }
                    }
                }
            }
            Touched::Nothing if incremental => {}
            _ => {
                s.desired = desired
                    .neighbors
                    .iter()
                    .map(|(k, n)| (k.clone(), DesiredSession::from(n)))
                    .collect();
            }
        }
    });
}

/// What the engine holds after `plan` was applied to it.
fn apply_plan(held: &mut RrConfig, plan: &Plan) {
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

/// The operations of an apply for the log: all of a small one; the first
/// [`OPERATIONS_LOGGED`] and a count of the rest for a large one (a cold
/// start of 2,099 sessions would otherwise write one line of ~100 KB).
fn shown_operations(operations: &[String]) -> String {
    let shown: Vec<&String> = operations.iter().take(OPERATIONS_LOGGED).collect();
    match operations.len().checked_sub(OPERATIONS_LOGGED) {
        Some(more) if more > 0 => format!("{shown:?} and {more} more"),
        _ => format!("{shown:?}"),
    }
}

const OPERATIONS_LOGGED: usize = 20;

/// How soon after a session comes up its route counts are read (a full
/// look), instead of at the next `counts_interval`: long enough for a
/// client's first UPDATEs, short enough that `rrd status` and the metrics
/// do not show an Established session with 0 routes for half a minute.
/// One full look covers every session that came up meanwhile.
const COUNTS_AFTER_SESSION_UP: std::time::Duration = std::time::Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_apply_logs_its_first_operations_and_counts_the_rest() {
        let ops: Vec<String> = (0..25).map(|i| format!("AddPeer {i}")).collect();
        let text = shown_operations(&ops);
        assert!(text.starts_with("[\"AddPeer 0\", "), "{text}");
        assert!(text.contains("\"AddPeer 19\"] and 5 more"), "{text}");
        assert!(!text.contains("AddPeer 20"), "{text}");
        assert_eq!(
            shown_operations(&ops[..2]),
            "[\"AddPeer 0\", \"AddPeer 1\"]"
        );
    }
}
