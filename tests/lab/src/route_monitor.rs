//! A kernel route monitor in a host's namespace (`ip -ts monitor route`,
//! tracked by PID like every lab process): counts route deletions and how
//! long each deleted prefix stayed away, e.g. to see whether clients lost
//! a block while an RR restarted.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::lab::{Host, Lab};
use crate::process::Process;

/// A running monitor of one host's routing table.
#[derive(Debug)]
pub struct RouteMonitor {
    host: String,
    process: Process,
}

/// Where a monitor's log stood at some instant (see [`RouteMonitor::mark`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Mark(usize);

/// Deletions of matching prefixes seen after a [`Mark`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Withdrawals {
    pub deletions: usize,
    /// Longest time from a deletion to the prefix's return.
    pub longest_gap: Duration,
    /// `<host> <prefix>` of that longest gap.
    pub longest_gap_at: Option<String>,
    /// Prefixes deleted and not back (yet).
    pub missing: Vec<String>,
}

impl Withdrawals {
    /// Combine the withdrawals of several monitors.
    pub fn merge(mut self, other: Withdrawals) -> Withdrawals {
        self.deletions += other.deletions;
        if other.longest_gap > self.longest_gap || self.longest_gap_at.is_none() {
            self.longest_gap = other.longest_gap;
            self.longest_gap_at = other.longest_gap_at;
        }
        self.missing.extend(other.missing);
        self
    }
}

impl RouteMonitor {
    pub fn start(lab: &Lab, host: &Host) -> RouteMonitor {
        let process = host.spawn(
            "ip monitor route",
            "ip",
            &["-ts", "monitor", "route"],
            lab.path(&format!("{}-routes.log", host.name)),
        );
        RouteMonitor {
            host: host.name.clone(),
            process,
        }
    }

    pub fn mark(&self) -> Mark {
        Mark(self.process.log_text().lines().count())
    }

    /// Deletions of prefixes starting with `prefix` (`"203.0.113."`) since
    /// `mark`, and how long each stayed away.
    pub fn withdrawals_since(&self, mark: Mark, prefix: &str) -> Withdrawals {
        let mut w = Withdrawals::default();
        let mut pending = BTreeMap::new();
        for line in self.process.log_text().lines().skip(mark.0) {
            let Some((at, event)) = parse_line(line) else {
                continue;
            };
            let Some(dst) = event.split_whitespace().find(|t| t.starts_with(prefix)) else {
                continue;
            };
            if event.starts_with("Deleted ") {
                w.deletions += 1;
                pending.entry(dst.to_owned()).or_insert(at);
            } else if let Some(gone) = pending.remove(dst) {
                let gap = Duration::from_secs_f64((at - gone).max(0.0));
                if gap > w.longest_gap || w.longest_gap_at.is_none() {
                    w.longest_gap = gap;
                    w.longest_gap_at = Some(format!("{} {dst}", self.host));
                }
            }
        }
        w.missing = pending
            .into_keys()
            .map(|p| format!("{} {p}", self.host))
            .collect();
        w
    }
}

/// `[2026-11-22T21:20:17.926430] Deleted 203.0.113.84/30 via ...` ->
/// (seconds of the day, event text).
fn parse_line(line: &str) -> Option<(f64, &str)> {
    let (stamp, event) = line.strip_prefix('[')?.split_once("] ")?;
    let time = stamp.split_once('T')?.1;
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some((h * 3600.0 + m * 60.0 + s, event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_lines_give_the_time_of_day_and_the_event() {
        let (at, event) =
            parse_line("[2026-11-22T21:20:17.926430] Deleted 203.0.113.4/30 via 198.51.100.21 dev eth0 proto bird")
                .unwrap();
        assert!((at - (21.0 * 3600.0 + 20.0 * 60.0 + 17.926430)).abs() < 1e-6);
        assert!(event.starts_with("Deleted 203.0.113.4/30"));
        assert_eq!(parse_line("Deleted 203.0.113.4/30"), None);
    }
}
