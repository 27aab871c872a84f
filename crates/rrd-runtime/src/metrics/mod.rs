//! Prometheus metrics of a running rrd (`/metrics`), through the
//! `prometheus-client` registry.
//!
//! Two feeds: the loop reports what happens between scrapes (every
//! observation of the daemon's sessions, every apply's duration), and each
//! scrape refreshes the rest from the one [`Status`] the loop publishes
//! (readiness, datastore, counters kept in the status). Series names are
//! the contract with the shipped alert rules and dashboard
//! (`packaging/monitoring/`): rename one there too.

mod peers;
mod text;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rrd_core::{PeerKey, SessionStatus};

use self::peers::PeerMetrics;
pub use self::peers::{state_label, Role, STATES};
use crate::status::{now_unix, DesiredSession, Status};

pub use self::text::{classic, wants_openmetrics, CLASSIC_CONTENT_TYPE};

/// The content type of [`Metrics::render`]'s output.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    engine: String,
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DriftLabels {
    kind: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every series rrd exports.
#[derive(Debug)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    peers: PeerMetrics,
    ready: Gauge,
    in_sync: Gauge,
    source_synced: Gauge,
    source_connected: Gauge,
    source_age: FloatGauge,
    source_reconnects: Counter,
    source_rejected: Counter,
    source_snapshots: Counter,
    reconciles: Family<OutcomeLabels, Counter>,
    apply_duration: Histogram,
    config_rejected: Gauge,
    daemon_up: Gauge,
    daemon_restarts: Counter,
    mass_removal_held: Gauge,
    mass_removal_removes: Gauge,
    desired_sessions: Gauge,
    drift: Family<DriftLabels, Gauge>,
    drift_repairs: Counter,
    last_apply: Gauge,
    counts_observed: Gauge,
    /// When the datastore was last known current (for its age).
    source_current_at: Option<u64>,
}

fn catch_up(counter: &Counter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}

fn gauge_of(flag: bool) -> i64 {
    i64::from(flag)
}

impl Metrics {
    /// `engine` and `source` are the plugin kinds (`bird`, `etcd`...).
    pub fn new(engine: &str, source: &str) -> Metrics {
        let mut registry = Registry::default();
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
                engine: engine.into(),
                source: source.into(),
            })
            .set(1);
        registry.register(
            "rrd_build_info",
            "rrd's version and the plugins this instance runs; always 1",
            build,
        );
        let inner = Inner {
            peers: PeerMetrics::default(),
            ready: Gauge::default(),
            in_sync: Gauge::default(),
            source_synced: Gauge::default(),
            source_connected: Gauge::default(),
            source_age: FloatGauge::default(),
            source_reconnects: Counter::default(),
            source_rejected: Counter::default(),
            source_snapshots: Counter::default(),
            reconciles: Family::default(),
            // 1 ms .. ~65 s: a BIRD configure takes milliseconds, thousands
            // of GoBGP AddPeers take seconds.
            apply_duration: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 17),
            ),
            config_rejected: Gauge::default(),
            daemon_up: Gauge::default(),
            daemon_restarts: Counter::default(),
            mass_removal_held: Gauge::default(),
            mass_removal_removes: Gauge::default(),
            desired_sessions: Gauge::default(),
            drift: Family::default(),
            drift_repairs: Counter::default(),
            last_apply: Gauge::default(),
            counts_observed: Gauge::default(),
            source_current_at: None,
            registry,
        };
        let mut inner = inner;
        inner.register();
        Metrics {
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One observation of the daemon's sessions; `desired` says which are
    /// rrd's and their role.
    pub fn observe_sessions(
        &self,
        sessions: &[SessionStatus],
        desired: &BTreeMap<PeerKey, DesiredSession>,
    ) {
        let role = |k: &PeerKey| match desired.get(k) {
            Some(d) if d.rr_client => Role::Client,
            Some(_) => Role::NonClient,
            None => Role::Unmanaged,
        };
        self.lock().peers.observe(sessions, role, Instant::now());
    }

    /// The daemon could not be observed: no per-peer series.
    pub fn daemon_unobservable(&self) {
        self.lock().peers.clear();
    }

    /// One call of the engine's apply took `took`.
    pub fn apply_took(&self, took: Duration) {
        self.lock().apply_duration.observe(took.as_secs_f64());
    }

    /// Refresh from `status` and encode everything (OpenMetrics; see
    /// [`classic`] for the classic text format).
    pub fn render(&self, status: &Status) -> String {
        let mut inner = self.lock();
        inner.refresh(status, now_unix());
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &inner.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl Inner {
    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "rrd_ready",
            "1 when the datastore was read and is reachable and the daemon holds the desired config (/readyz)",
            self.ready.clone(),
        );
        r.register(
            "rrd_in_sync",
            "1 when the daemon holds exactly the desired configuration (and nothing else)",
            self.in_sync.clone(),
        );
        r.register(
            "rrd_source_synced",
            "1 after the first complete read of the datastore",
            self.source_synced.clone(),
        );
        r.register(
            "rrd_source_connected",
            "1 while the datastore is reachable",
            self.source_connected.clone(),
        );
        r.register(
            "rrd_source_last_sync_age_seconds",
            "Seconds since rrd's view of the datastore was last known current (0 while connected and read)",
            self.source_age.clone(),
        );
        r.register(
            "rrd_source_reconnects",
            "Times the datastore became reachable again after an outage",
            self.source_reconnects.clone(),
        );
        r.register(
            "rrd_source_rejected_entries",
            "Datastore keys or objects skipped because they could not be decoded",
            self.source_rejected.clone(),
        );
        r.register(
            "rrd_source_snapshots",
            "Complete reads of the datastore",
            self.source_snapshots.clone(),
        );
        r.register(
            "rrd_reconciles",
            "Reconciles by outcome: noop (nothing to change), changed, rejected (by the daemon), failed, held (mass-removal guard)",
            self.reconciles.clone(),
        );
        r.register(
            "rrd_apply_duration_seconds",
            "Time the engine took to make the daemon hold a new configuration",
            self.apply_duration.clone(),
        );
        r.register(
            "rrd_engine_config_rejected",
            "1 while the daemon refuses the desired configuration (it runs the previous one)",
            self.config_rejected.clone(),
        );
        r.register(
            "rrd_daemon_up",
            "1 while the BGP daemon answers",
            self.daemon_up.clone(),
        );
        r.register(
            "rrd_daemon_restarts",
            "Times rrd's supervisor restarted the BGP daemon after it died",
            self.daemon_restarts.clone(),
        );
        r.register(
            "rrd_mass_removal_held",
            "1 while a change removing many sessions is held until `rrd apply --allow-mass-removal` or stable",
            self.mass_removal_held.clone(),
        );
        r.register(
            "rrd_mass_removal_held_removals",
            "Sessions the held change would remove",
            self.mass_removal_removes.clone(),
        );
        r.register(
            "rrd_desired_sessions",
            "Sessions the topology asks for",
            self.desired_sessions.clone(),
        );
        r.register(
            "rrd_drift_sessions",
            "Sessions where the daemon differs from what rrd applied: unexpected (not applied by rrd), missing, changed",
            self.drift.clone(),
        );
        r.register(
            "rrd_drift_repairs",
            "Full reconciles started to repair drift",
            self.drift_repairs.clone(),
        );
        r.register(
            "rrd_last_apply_timestamp_seconds",
            "When rrd last changed the daemon (0: not since it started)",
            self.last_apply.clone(),
        );
        r.register(
            "rrd_peer_prefixes_observed_timestamp_seconds",
            "When the rrd_peer_prefixes_* counts were read from the daemon, every runtime.counts_interval (0: not yet); session states are newer",
            self.counts_observed.clone(),
        );
        self.peers.register(r);
    }

    fn refresh(&mut self, s: &Status, now: u64) {
        self.ready.set(gauge_of(s.ready()));
        self.in_sync.set(gauge_of(s.in_sync));
        self.source_synced.set(gauge_of(s.source.synced));
        self.source_connected.set(gauge_of(s.source.connected));
        if s.source.synced && s.source.connected {
            self.source_current_at = Some(now);
        }
        let current_at = self
            .source_current_at
            .or(s.source.unreachable_since_unix)
            .unwrap_or(s.started_unix)
            .min(now);
        self.source_age.set((now - current_at) as f64);
        catch_up(&self.source_reconnects, s.source.reconnects);
        catch_up(&self.source_rejected, s.source.rejected_entries);
        catch_up(&self.source_snapshots, s.source.snapshots);
        for (outcome, total) in [
            ("noop", s.applies.noop),
            ("changed", s.applies.changed),
            ("rejected", s.applies.rejected),
            ("failed", s.applies.failed),
            ("held", s.applies.held),
        ] {
            catch_up(
                &self.reconciles.get_or_create(&OutcomeLabels { outcome }),
                total,
            );
        }
        self.config_rejected
            .set(gauge_of(s.engine.rejected.is_some()));
        self.daemon_up.set(gauge_of(
            !s.engine.daemon.is_empty() && !s.engine.daemon.starts_with("down"),
        ));
        catch_up(&self.daemon_restarts, s.engine.daemon_restarts);
        self.mass_removal_held
            .set(gauge_of(s.pending_mass_removal.is_some()));
        self.mass_removal_removes.set(
            s.pending_mass_removal
                .as_ref()
                .map_or(0, |p| i64::try_from(p.removes).unwrap_or(i64::MAX)),
        );
        self.desired_sessions
            .set(i64::try_from(s.desired.len()).unwrap_or(i64::MAX));
        let drift = s.drift.as_ref();
        for (kind, n) in [
            ("unexpected", drift.map_or(0, |d| d.drift.unexpected.len())),
            ("missing", drift.map_or(0, |d| d.drift.missing.len())),
            ("changed", drift.map_or(0, |d| d.drift.changed.len())),
        ] {
            self.drift
                .get_or_create(&DriftLabels { kind })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        catch_up(&self.drift_repairs, s.applies.drift_repairs);
        self.last_apply.set(
            s.applies
                .last_apply_unix
                .map_or(0, |t| i64::try_from(t).unwrap_or(i64::MAX)),
        );
        self.counts_observed.set(
            s.engine
                .counts_observed_unix
                .map_or(0, |t| i64::try_from(t).unwrap_or(i64::MAX)),
        );
        self.peers.refresh(Instant::now());
    }
}

#[cfg(test)]
mod tests;
