//! Prometheus text exposition of a [`Status`] snapshot.
//!
//! Written by hand (a dozen series) rather than through a metrics registry:
//! everything is derived from the one status value the reconciler publishes.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::status::Status;

fn series(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Render all series.
pub fn render(status: &Status) -> String {
    let mut out = String::new();
    let s = status;
    series(
        &mut out,
        "rrd_ready",
        "gauge",
        "1 when the datastore was read and the daemon holds the desired config.",
        &[(String::new(), flag(s.ready()))],
    );
    series(
        &mut out,
        "rrd_in_sync",
        "gauge",
        "1 when the daemon holds exactly the desired configuration.",
        &[(String::new(), flag(s.in_sync))],
    );
    series(
        &mut out,
        "rrd_source_synced",
        "gauge",
        "1 after the first complete read of the datastore.",
        &[(String::new(), flag(s.source.synced))],
    );
    series(
        &mut out,
        "rrd_source_connected",
        "gauge",
        "1 while the datastore is reachable.",
        &[(String::new(), flag(s.source.connected))],
    );
    series(
        &mut out,
        "rrd_source_rejected_entries_total",
        "counter",
        "Datastore keys or objects skipped because they could not be decoded.",
        &[(String::new(), s.source.rejected_entries as f64)],
    );
    series(
        &mut out,
        "rrd_source_snapshots_total",
        "counter",
        "Complete reads of the datastore.",
        &[(String::new(), s.source.snapshots as f64)],
    );
    series(
        &mut out,
        "rrd_applies_total",
        "counter",
        "Reconciles by outcome.",
        &[
            ("result=\"noop\"".into(), s.applies.noop as f64),
            ("result=\"changed\"".into(), s.applies.changed as f64),
            ("result=\"rejected\"".into(), s.applies.rejected as f64),
            ("result=\"failed\"".into(), s.applies.failed as f64),
        ],
    );
    series(
        &mut out,
        "rrd_engine_config_rejected",
        "gauge",
        "1 while the daemon refuses the desired configuration (it runs the previous one).",
        &[(String::new(), flag(s.engine.rejected.is_some()))],
    );
    series(
        &mut out,
        "rrd_mass_removal_pending",
        "gauge",
        "1 while a change removing many sessions is held for confirmation.",
        &[(String::new(), flag(s.pending_mass_removal.is_some()))],
    );
    series(
        &mut out,
        "rrd_desired_sessions",
        "gauge",
        "Sessions the topology asks for.",
        &[(String::new(), s.desired.len() as f64)],
    );
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    for session in &s.sessions {
        *by_state.entry(session.state.label()).or_default() += 1;
    }
    let samples: Vec<_> = by_state
        .into_iter()
        .map(|(state, n)| (format!("state=\"{state}\""), n as f64))
        .collect();
    series(
        &mut out,
        "rrd_sessions",
        "gauge",
        "Sessions the daemon reports, by BGP state.",
        &samples,
    );
    if let Some(t) = s.applies.last_apply_unix {
        series(
            &mut out,
            "rrd_last_apply_timestamp_seconds",
            "gauge",
            "When the daemon was last changed.",
            &[(String::new(), t as f64)],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_reflect_counters_and_readiness() {
        let mut s = Status::default();
        s.applies.changed = 3;
        s.source.rejected_entries = 2;
        let text = render(&s);
        assert!(
            text.contains("rrd_applies_total{result=\"changed\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("rrd_source_rejected_entries_total 2"),
            "{text}"
        );
        assert!(text.contains("rrd_ready 0"), "{text}");
    }
}
