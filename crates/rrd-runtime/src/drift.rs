//! Drift: the daemon holds other sessions than rrd applied.
//!
//! Sits between the engine's `observe` and the status: every observation
//! is compared with the configuration rrd last made the daemon hold (a
//! successful apply, or an empty plan). A session the daemon holds that
//! rrd did not apply (a protocol added to bird.conf by hand and loaded
//! with `birdc configure`, a `gobgp neighbor add`), one rrd applied that
//! the daemon no longer holds, or one whose neighbor or AS differs, is
//! drift: reported at once (status, metric, one log line per change) and
//! repaired by a full reconcile once it has lasted `resync_interval`.
//!
//! Pure: the loop owns one [`DriftWatch`] and feeds it; time comes in as
//! an argument so tests run without a clock.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use rrd_core::{Asn, PeerKey, RrConfig, SessionStatus};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tracing::{info, warn};

/// What differs between the daemon and what rrd applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// Held by the daemon, not applied by rrd: `name (address)`.
    pub unexpected: Vec<String>,
    /// Applied by rrd, not held by the daemon.
    pub missing: Vec<String>,
    /// Held under rrd's name with another neighbor address or AS.
    pub changed: Vec<String>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.unexpected.is_empty() && self.missing.is_empty() && self.changed.is_empty()
    }

    /// One line for logs and `/readyz`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (what, list) in [
            ("not applied by rrd", &self.unexpected),
            ("missing", &self.missing),
            ("changed", &self.changed),
        ] {
            if !list.is_empty() {
                parts.push(format!("{} {what}: {}", list.len(), list.join(", ")));
            }
        }
        parts.join("; ")
    }
}

/// Drift as published in the status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftReport {
    #[serde(flatten)]
    pub drift: Drift,
    /// When this drift was first seen.
    pub since_unix: u64,
    /// When rrd repairs it (a full reconcile) if it lasts.
    pub repair_at_unix: u64,
    /// Repairs attempted since rrd started.
    pub repairs: u64,
}

/// The sessions rrd applied, by name: neighbor and AS.
type Applied = BTreeMap<PeerKey, (IpAddr, Asn)>;

/// Compare what the daemon holds with what rrd applied.
pub fn compare(applied: &RrConfig, held: &[SessionStatus]) -> Drift {
    let applied: Applied = applied
        .neighbors
        .iter()
        .map(|(k, n)| (k.clone(), (n.address, n.remote_as)))
        .collect();
    compare_sessions(&applied, held)
}

fn compare_sessions(applied: &Applied, held: &[SessionStatus]) -> Drift {
    let mut drift = Drift::default();
    let mut seen = BTreeMap::new();
    for s in held {
        seen.insert(&s.key, s);
        match applied.get(&s.key) {
            None => drift
                .unexpected
                .push(format!("{} ({})", s.key.0, s.address)),
            Some((address, asn)) => {
                let other_as = s.remote_as.is_some_and(|a| a != *asn);
                if *address != s.address || other_as {
                    drift.changed.push(format!(
                        "{} (applied {address} AS {}, held {} AS {})",
                        s.key.0,
                        asn.0,
                        s.address,
                        s.remote_as.map_or("?".into(), |a| a.0.to_string())
                    ));
                }
            }
        }
    }
    for (key, (address, _)) in applied {
        if !seen.contains_key(key) {
            drift.missing.push(format!("{} ({address})", key.0));
        }
    }
    drift
}

/// What one observation means for the loop.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The drift to publish (`None`: the daemon holds what rrd applied, or
    /// nothing was applied yet).
    pub report: Option<DriftReport>,
    /// The drift differs from the last observation's (log it).
    pub changed: bool,
    /// It has lasted the resync interval: reconcile now.
    pub repair: bool,
}

/// The loop's drift state.
#[derive(Debug, Default)]
pub struct DriftWatch {
    applied: Option<Applied>,
    current: Option<Current>,
    repairs: u64,
}

#[derive(Debug)]
struct Current {
    drift: Drift,
    since_unix: u64,
    /// The clock for the next repair (restarted by each repair).
    due_from: Instant,
}

impl DriftWatch {
    /// The daemon now holds `config` (applied, or found held already).
    ///
    /// With `only`, just those sessions changed since the last call (the
    /// loop applied a plan of the sessions a change touched): the cost is
    /// theirs, not the whole config's.
    pub fn applied(&mut self, config: &RrConfig, only: Option<&BTreeSet<PeerKey>>) {
        match (only, self.applied.as_mut()) {
            (Some(keys), Some(applied)) => {
                for k in keys {
                    match config.neighbors.get(k) {
                        Some(n) => {
                            applied.insert(k.clone(), (n.address, n.remote_as));
                        }
                        None => {
                            applied.remove(k);
                        }
                    }
                }
            }
            _ => {
                self.applied = Some(
                    config
                        .neighbors
                        .iter()
                        .map(|(k, n)| (k.clone(), (n.address, n.remote_as)))
                        .collect(),
                );
            }
        }
    }

    /// What rrd applied is no longer known (the daemon restarted empty).
    pub fn forget(&mut self) {
        self.applied = None;
        self.current = None;
    }

    /// One observation of the daemon's sessions at `now` (`now_unix` for
    /// the report).
    pub fn observe(
        &mut self,
        held: &[SessionStatus],
        now: Instant,
        now_unix: u64,
        resync_interval: Duration,
    ) -> Verdict {
        let drift = match &self.applied {
            Some(applied) => compare_sessions(applied, held),
            None => Drift::default(),
        };
        if drift.is_empty() {
            let changed = self.current.take().is_some();
            return Verdict {
                report: None,
                changed,
                repair: false,
            };
        }
        let changed = self.current.as_ref().map(|c| &c.drift) != Some(&drift);
        let current = match self.current.take() {
            Some(c) if !changed => c,
            // Another drift than before, same episode: the clock goes on.
            Some(c) => Current {
                drift,
                since_unix: c.since_unix,
                due_from: c.due_from,
            },
            None => Current {
                drift,
                since_unix: now_unix,
                due_from: now,
            },
        };
        let mut current = current;
        let repair = now.saturating_duration_since(current.due_from) >= resync_interval;
        if repair {
            self.repairs += 1;
            current.due_from = now;
        }
        let waited = now.saturating_duration_since(current.due_from);
        let report = DriftReport {
            drift: current.drift.clone(),
            since_unix: current.since_unix,
            repair_at_unix: now_unix + resync_interval.saturating_sub(waited).as_secs(),
            repairs: self.repairs,
        };
        self.current = Some(current);
        Verdict {
            report: Some(report),
            changed,
            repair,
        }
    }
}

/// Log a verdict: once per new drift, once when it ends, and each repair.
pub fn log(v: &Verdict) {
    match &v.report {
        Some(r) if v.repair => warn!(
            drift = %r.drift.summary(),
            "the daemon still differs from what rrd applied; repairing it with a full reconcile"
        ),
        Some(r) if v.changed => warn!(
            drift = %r.drift.summary(),
            repair_at_unix = r.repair_at_unix,
            "DRIFT: the daemon holds other sessions than rrd applied (edited by hand?); repaired after the resync interval"
        ),
        None if v.changed => info!("drift gone: the daemon holds what rrd applied"),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
