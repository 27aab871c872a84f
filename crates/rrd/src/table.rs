//! The `rrd status` table, modelled on `calicoctl node status`.

use std::collections::BTreeMap;
use std::fmt::Write;

use rrd_core::{SessionState, SessionStatus};
use rrd_runtime::Status;

/// Render a status snapshot as text.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let state = if s.ready() {
        "in sync".to_string()
    } else if !s.source.synced {
        "waiting for the first complete read".to_string()
    } else if s.pending_mass_removal.is_some() {
        "CHANGE HELD (mass removal): confirm with `rrd apply --allow-mass-removal`".to_string()
    } else if s.engine.rejected.is_some() {
        "CONFIGURATION REJECTED by the daemon (previous one still running)".to_string()
    } else if !s.source.connected {
        "datastore unreachable; last applied configuration kept".to_string()
    } else if let Some(d) = &s.drift {
        format!(
            "DRIFTED: the daemon does not hold what rrd applied ({}); repaired at the next resync",
            d.drift.summary()
        )
    } else {
        "not in sync".to_string()
    };
    let _ = writeln!(out, "rrd is {state}");
    let _ = writeln!(
        out,
        "source: {} {} ({}{})",
        s.source.kind,
        s.source.location,
        if s.source.connected {
            "connected"
        } else {
            "UNREACHABLE"
        },
        s.source
            .last_error
            .as_ref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
    if let Some(choice) = &s.source.choice {
        let _ = writeln!(out, "datastore: {choice}");
    }
    let _ = writeln!(
        out,
        "engine: {} {} at {} ({})",
        s.engine.kind,
        s.engine.version.clone().unwrap_or_default(),
        s.engine.endpoint,
        s.engine.daemon
    );
    let _ = writeln!(
        out,
        "router id {}, AS {}, {}, rules {}",
        s.router_id.clone().unwrap_or_else(|| "-".into()),
        s.local_as
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into()),
        s.cluster_id
            .map(|c| format!("cluster id {c}"))
            .unwrap_or_else(|| "no cluster id".into()),
        s.rules.clone().unwrap_or_else(|| "-".into())
    );
    if let Some(read) = s.engine.counts_observed_unix {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(read, |d| d.as_secs());
        let _ = writeln!(
            out,
            "route counts read {}s ago (runtime.counts_interval); states are current",
            now.saturating_sub(read)
        );
    }
    let sent_not_counted = s
        .sessions
        .iter()
        .filter(|o| o.state == SessionState::Established && o.routes_sent.is_none())
        .count();
    if sent_not_counted > 0 {
        let _ = writeln!(
            out,
            "routes sent not counted on {sent_not_counted} established sessions (TX `-`): \
             the engine skipped them, see its log"
        );
    }
    for line in [&s.engine.rejected, &s.engine.last_error, &s.compute_error]
        .into_iter()
        .flatten()
    {
        let _ = writeln!(out, "error: {line}");
    }
    for d in &s.diagnostics {
        let _ = writeln!(out, "warning: {d}");
    }
    if s.source.rejected_entries > 0 {
        let _ = writeln!(
            out,
            "warning: {} datastore entries skipped (last: {})",
            s.source.rejected_entries,
            s.source.last_rejection.clone().unwrap_or_default()
        );
    }
    let _ = writeln!(out);

    let observed: BTreeMap<&str, &SessionStatus> =
        s.sessions.iter().map(|x| (x.key.0.as_str(), x)).collect();
    let mut rows = vec![[
        "SESSION".to_string(),
        "PEER ADDRESS".into(),
        "PEER TYPE".into(),
        "AS".into(),
        "STATE".into(),
        "SINCE".into(),
        "ROUTES RX/TX".into(),
        "INFO".into(),
    ]];
    for (key, d) in &s.desired {
        let o = observed.get(key.0.as_str());
        let kind = if d.rr_client {
            match d.cluster_id {
                Some(c) => format!("rr client {c}"),
                None => "rr client".into(),
            }
        } else if key.0.starts_with("Mesh_") {
            "mesh".into()
        } else {
            "non-client".into()
        };
        rows.push([
            key.0.clone(),
            d.address.to_string(),
            kind,
            d.remote_as.to_string(),
            o.map(|o| o.state.label().to_string())
                .unwrap_or_else(|| "not in daemon".into()),
            o.and_then(|o| o.since.as_deref().map(local_since))
                .unwrap_or_default(),
            o.map(|o| {
                format!(
                    "{}/{}",
                    o.routes_received
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "-".into()),
                    o.routes_sent
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "-".into())
                )
            })
            .unwrap_or_default(),
            o.map(|o| o.info.clone()).unwrap_or_default(),
        ]);
    }
    for o in &s.sessions {
        if !s.desired.contains_key(&o.key) {
            rows.push([
                o.key.0.clone(),
                o.address.to_string(),
                "NOT DESIRED".into(),
                o.remote_as.map(|a| a.to_string()).unwrap_or_default(),
                o.state.label().into(),
                o.since.as_deref().map(local_since).unwrap_or_default(),
                String::new(),
                o.info.clone(),
            ]);
        }
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let sep: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+\n";
    out += &sep;
    for (i, row) in rows.iter().enumerate() {
        for (cell, w) in row.iter().zip(&widths) {
            let _ = write!(out, "| {cell:<w$} ");
        }
        out += "|\n";
        if i == 0 {
            out += &sep;
        }
    }
    out += &sep;
    out
}

/// `since` for people, in local time like `calicoctl node status`: the time
/// of day for today, else the date and time.
fn local_since(since: &str) -> String {
    let Ok(at) = since.parse::<jiff::Timestamp>() else {
        return since.to_owned();
    };
    let tz = jiff::tz::TimeZone::system();
    let local = at.to_zoned(tz.clone());
    if local.date() == jiff::Zoned::now().with_time_zone(tz).date() {
        local.strftime("%H:%M:%S").to_string()
    } else {
        local.strftime("%Y-%m-%d %H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn established(n: u8, sent: Option<u64>) -> SessionStatus {
        SessionStatus {
            routes_received: Some(1),
            routes_sent: sent,
            ..rrd_core::testing::fixtures::established_session(n)
        }
    }

    #[test]
    fn established_sessions_without_a_routes_sent_count_are_named_not_counted() {
        let mut s = Status {
            sessions: vec![established(2, Some(3))],
            ..Status::default()
        };
        assert!(!render(&s).contains("not counted"));
        s.sessions.push(established(3, None));
        let out = render(&s);
        assert!(
            out.contains("routes sent not counted on 1 established sessions"),
            "{out}"
        );
    }
}
