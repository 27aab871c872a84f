//! `[runtime]` settings: timings of the loop and the mass-removal guard.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the reconciliation loop paces itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSettings {
    /// A change after this much quiet is applied at once; changes closer
    /// together are a burst, applied this long after its last change
    /// (see [`crate::debounce`]).
    #[serde(with = "humantime_serde")]
    pub debounce: Duration,
    /// Upper bound on batching a burst, from its first change.
    #[serde(with = "humantime_serde")]
    pub debounce_max: Duration,
    /// Full reconcile (re-read what the engine holds, re-plan) this often.
    #[serde(with = "humantime_serde")]
    pub resync_interval: Duration,
    /// Session states are observed this often; a daemon found empty
    /// (restarted) is re-created at once.
    #[serde(with = "humantime_serde")]
    pub observe_interval: Duration,
    /// First retry delay after a failed apply; doubles up to `backoff_max`,
    /// with ±20 % jitter.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    pub mass_removal: MassRemovalSettings,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            debounce: Duration::from_millis(200),
            debounce_max: Duration::from_secs(2),
            resync_interval: Duration::from_secs(300),
            observe_interval: Duration::from_secs(1),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            mass_removal: MassRemovalSettings::default(),
        }
    }
}

/// A change that removes more than `threshold` of the held sessions at once
/// is held back: a datastore half-wiped by mistake must not tear down half
/// the fabric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MassRemovalSettings {
    /// Share of held sessions (0.0..=1.0) a single change may remove.
    pub threshold: f64,
    /// Changes touching fewer held sessions than this are never held.
    pub min_sessions: usize,
    /// A held change is applied anyway once the desired state has been
    /// stable this long. `0s` = only `rrd apply --allow-mass-removal`.
    #[serde(with = "humantime_serde")]
    pub release_after: Duration,
}

impl Default for MassRemovalSettings {
    fn default() -> Self {
        MassRemovalSettings {
            threshold: 0.5,
            min_sessions: 4,
            release_after: Duration::from_secs(600),
        }
    }
}
