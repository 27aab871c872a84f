//! What the reconciler publishes about itself: read by `/status`,
//! `/metrics`, `/readyz` and `rrd status`.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rrd_core::{Asn, ClusterId, Neighbor, PeerKey, SessionStatus};
use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The datastore side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceView {
    pub kind: String,
    pub location: String,
    /// How the datastore's API and layout were chosen (drop-in mode).
    #[serde(default)]
    pub choice: Option<String>,
    /// The first complete read arrived.
    pub synced: bool,
    pub connected: bool,
    pub last_error: Option<String>,
    /// Keys or objects skipped because they could not be decoded.
    pub rejected_entries: u64,
    pub last_rejection: Option<String>,
    pub snapshots: u64,
    pub change_batches: u64,
    /// Times the datastore became reachable again after an outage.
    #[serde(default)]
    pub reconnects: u64,
    /// Since when the datastore is unreachable (`None` while reachable).
    #[serde(default)]
    pub unreachable_since_unix: Option<u64>,
}

/// The daemon side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineView {
    pub kind: String,
    pub version: Option<String>,
    pub endpoint: String,
    /// `running`, `unconfigured`, `down: <reason>`.
    pub daemon: String,
    pub last_error: Option<String>,
    /// The daemon refused the last configuration (it runs the one before).
    pub rejected: Option<String>,
    /// Times rrd's supervisor restarted the daemon after it died.
    #[serde(default)]
    pub daemon_restarts: u64,
    /// When the route counts (and other detail) in `sessions` were read
    /// (`runtime.counts_interval`); the states are as of the last
    /// observation (`runtime.observe_interval`). `None`: not yet.
    #[serde(default)]
    pub counts_observed_unix: Option<u64>,
}

/// Apply counters since start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyCounters {
    /// Reconciles whose plan was empty.
    pub noop: u64,
    /// Applies that changed the daemon.
    pub changed: u64,
    /// Applies the daemon refused.
    pub rejected: u64,
    /// Applies that failed otherwise (unreachable daemon, I/O).
    pub failed: u64,
    /// Reconciles held back by the mass-removal guard.
    #[serde(default)]
    pub held: u64,
    /// Full reconciles started because the daemon drifted.
    #[serde(default)]
    pub drift_repairs: u64,
    pub last_apply_unix: Option<u64>,
    pub last_plan: Option<String>,
}

/// A change held back by the mass-removal guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRemoval {
    pub removes: usize,
    /// Held sessions the change would reset (changed settings).
    #[serde(default)]
    pub resets: usize,
    /// Sessions removed or reset by changes applied within
    /// `runtime.mass_removal.window` before this one.
    #[serde(default)]
    pub earlier_in_window: usize,
    pub held_sessions: usize,
    pub since_unix: u64,
    pub release_at_unix: Option<u64>,
}

/// One desired session, for status output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredSession {
    pub address: std::net::IpAddr,
    pub remote_as: Asn,
    pub local_as: Asn,
    pub rr_client: bool,
    pub cluster_id: Option<ClusterId>,
    pub peer_node: Option<String>,
}

impl From<&Neighbor> for DesiredSession {
    fn from(n: &Neighbor) -> Self {
        DesiredSession {
            address: n.address,
            remote_as: n.remote_as,
            local_as: n.local_as,
            rr_client: n.role.is_client(),
            cluster_id: n.role.cluster_id(),
            peer_node: n.peer_node.clone(),
        }
    }
}

/// Everything the reconciler knows, as of `updated_unix`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub started_unix: u64,
    pub updated_unix: u64,
    pub source: SourceView,
    pub engine: EngineView,
    /// Rule set in force (`legacy`, `calico-v3`).
    pub rules: Option<String>,
    pub router_id: Option<String>,
    pub local_as: Option<Asn>,
    pub cluster_id: Option<ClusterId>,
    pub desired: BTreeMap<PeerKey, DesiredSession>,
    /// Warnings from computing the configuration (skipped nodes, ...).
    pub diagnostics: Vec<String>,
    /// Why no configuration could be computed, if so.
    pub compute_error: Option<String>,
    pub applies: ApplyCounters,
    pub pending_mass_removal: Option<PendingRemoval>,
    /// The engine holds exactly the desired configuration.
    pub in_sync: bool,
    pub sessions: Vec<SessionStatus>,
    /// The daemon holds other sessions than rrd applied (hand edits).
    #[serde(default)]
    pub drift: Option<crate::drift::DriftReport>,
}

impl Status {
    /// Ready = the datastore was read, is reachable, and the daemon holds
    /// what it says (no drift: `in_sync` is false while there is).
    pub fn ready(&self) -> bool {
        self.source.synced
            && self.source.connected
            && self.in_sync
            && self.pending_mass_removal.is_none()
    }

    /// Alive = the reconciler was created and serves status. Deliberately
    /// not tied to a heartbeat: one apply of thousands of peers can take
    /// minutes, and a liveness probe must not kill rrd in the middle of it.
    pub fn healthy(&self) -> bool {
        self.started_unix != 0
    }
}
