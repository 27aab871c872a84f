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
    /// Full reconcile (re-read what the engine holds, re-plan) this often;
    /// it first recomputes the whole configuration and checks it against
    /// the one kept change by change (a difference is logged as an error
    /// and the full computation is applied).
    #[serde(with = "humantime_serde")]
    pub resync_interval: Duration,
    /// Session states are observed this often (the engine's cheap look,
    /// [`rrd_core::BgpEngine::observe_states`]); a daemon found empty
    /// (restarted) is re-created at once. Not while a change waits for its
    /// apply: the apply goes first.
    #[serde(with = "humantime_serde")]
    pub observe_interval: Duration,
    /// Route counts and the other per-session detail are read this often
    /// (the full listing, [`rrd_core::BgpEngine::observe`]); the look every
    /// `observe_interval` keeps the last ones. The first observation at
    /// least this long after the last full one is full (so at or below
    /// `observe_interval`, every one is); a session seen coming up has
    /// them read 5 s later instead. Prometheus scrapes every 15-60
    /// s, so counts read at that pace are as fresh as anyone sees them;
    /// the full listing of thousands of sessions costs the daemon tens of
    /// milliseconds.
    #[serde(with = "humantime_serde")]
    pub counts_interval: Duration,
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
            debounce_max: Duration::from_millis(500),
            resync_interval: Duration::from_secs(300),
            observe_interval: Duration::from_secs(1),
            counts_interval: Duration::from_secs(30),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            mass_removal: MassRemovalSettings::default(),
        }
    }
}

impl RuntimeSettings {
    /// What is wrong with these settings, as `(key, message)` pairs (keys
    /// relative to `[runtime]`). A zero interval would make the loop spin
    /// or the timer panic, so every period must be positive.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (key, value) in [
            ("debounce_max", self.debounce_max),
            ("resync_interval", self.resync_interval),
            ("observe_interval", self.observe_interval),
            ("counts_interval", self.counts_interval),
            ("backoff_initial", self.backoff_initial),
            ("backoff_max", self.backoff_max),
        ] {
            if value.is_zero() {
                out.push((key.to_owned(), "must be longer than 0s".to_owned()));
            }
        }
        if self.debounce > self.debounce_max {
            out.push((
                "debounce".to_owned(),
                format!(
                    "{} must not exceed debounce_max ({})",
                    humantime::format_duration(self.debounce),
                    humantime::format_duration(self.debounce_max)
                ),
            ));
        }
        if self.backoff_initial > self.backoff_max {
            out.push((
                "backoff_initial".to_owned(),
                format!(
                    "{} must not exceed backoff_max ({})",
                    humantime::format_duration(self.backoff_initial),
                    humantime::format_duration(self.backoff_max)
                ),
            ));
        }
        let threshold = self.mass_removal.threshold;
        if !(0.0..=1.0).contains(&threshold) {
            out.push((
                "mass_removal.threshold".to_owned(),
                format!("must be between 0.0 and 1.0, got {threshold}"),
            ));
        }
        out
    }
}

/// A change that removes or resets more than `threshold` of the held
/// sessions (with what was applied within `window`) is held back: a
/// datastore half-wiped by mistake, or this RR's own registration lost,
/// must not tear down half the fabric.
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
    /// Sessions removed or reset by changes applied within this window
    /// count together against `threshold` (of the most sessions held in
    /// it): a wipe in small steps is held like one at once. `0s` = each
    /// change is judged alone.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

impl Default for MassRemovalSettings {
    fn default() -> Self {
        MassRemovalSettings {
            threshold: 0.5,
            min_sessions: 4,
            release_after: Duration::from_secs(600),
            window: Duration::from_secs(600),
        }
    }
}
