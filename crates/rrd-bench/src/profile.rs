//! Where an isolated change's time went: rrd's own debug timestamps
//! (`--rrd-log info,rrd_runtime=debug`) joined by time with the bench's
//! samples. Each sample splits into etcd write → etcd answered → rrd
//! received the change → apply started → rrd logged "engine updated" →
//! the daemon seen holding it, and names rrd's looks at the daemon that
//! overlapped it. A
//! diagnostic printed beside the results, never a figure of the table:
//! the latencies themselves are taken from outside rrd.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::stats::{Samples, Summary};

/// One isolated change as the bench timed it.
#[derive(Clone, Debug)]
pub struct Sample {
    pub kind: &'static str,
    /// When the bench sent the etcd write.
    pub written: SystemTime,
    /// From the write until etcd answered it (committed).
    pub acked: Duration,
    /// From the write until the daemon was seen holding the change.
    pub took: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Received,
    Applying,
    Updated,
    /// A look that ran to its end; `full`: with route counts.
    Looked {
        full: bool,
    },
    GaveWay,
}

#[derive(Clone, Copy, Debug)]
struct Event {
    /// Unix microseconds.
    at: i64,
    kind: Kind,
    /// `took=` of the line, microseconds.
    took: i64,
}

/// The samples timed from etcd's answer to the write instead of from the
/// write: what rrd and the daemon took once the change was committed.
pub fn after_ack(samples: &[Sample]) -> Summary {
    samples
        .iter()
        .map(|s| s.took.saturating_sub(s.acked))
        .collect::<Samples>()
        .summary()
}

/// The profile of `samples` against rrd's log text: the `slowest` samples
/// one by one, and the median of each step over all of them. Empty when
/// the log has no debug timestamps.
pub fn explain(log: &str, samples: &[Sample], slowest: usize) -> String {
    let events: Vec<Event> = log.lines().filter_map(parse_line).collect();
    if !events.iter().any(|e| e.kind == Kind::Received) {
        return String::new();
    }
    let mut rows: Vec<(Duration, Row)> = samples
        .iter()
        .map(|s| (s.took, Row::of(s, &events)))
        .collect();
    let mut out = String::from(
        "    steps (ms): etcd write -> etcd answered / -> rrd received / -> apply started / -> engine updated / -> daemon seen\n",
    );
    let median = |f: &dyn Fn(&Row) -> Option<i64>| {
        let mut v: Vec<i64> = rows.iter().filter_map(|(_, r)| f(r)).collect();
        v.sort_unstable();
        v.get(v.len() / 2).map_or("-".into(), |m| ms(*m))
    };
    let _ = writeln!(
        out,
        "    median of {}: {} / {} / {} / {} / {}",
        rows.len(),
        median(&|r| Some(r.acked)),
        median(&|r| r.received),
        median(&|r| r.queued),
        median(&|r| r.apply),
        median(&|r| r.after),
    );
    rows.sort_by_key(|(took, _)| std::cmp::Reverse(*took));
    for (took, row) in rows.iter().take(slowest) {
        let opt = |v: Option<i64>| v.map_or("-".into(), ms);
        let _ = writeln!(
            out,
            "    {:<6} {:>8} ms: {} / {} / {} / {} / {}{}",
            row.kind,
            ms(took.as_micros() as i64),
            ms(row.acked),
            opt(row.received),
            opt(row.queued),
            opt(row.apply),
            opt(row.after),
            row.looks,
        );
    }
    out
}

/// One sample's steps, microseconds.
struct Row {
    kind: &'static str,
    /// etcd's answer to the write.
    acked: i64,
    /// From etcd's answer (negative: rrd had the change first).
    received: Option<i64>,
    queued: Option<i64>,
    apply: Option<i64>,
    after: Option<i64>,
    /// rrd's looks that overlapped the sample, as text.
    looks: String,
}

impl Row {
    fn of(sample: &Sample, events: &[Event]) -> Row {
        let written = unix_us(sample.written);
        let acked = sample.acked.as_micros() as i64;
        let seen = written + sample.took.as_micros() as i64;
        let first = |kind: Kind, from: Option<i64>| {
            let from = from?;
            events
                .iter()
                .find(|e| e.kind == kind && e.at >= from && e.at <= seen + 1_000_000)
                .map(|e| e.at)
        };
        let received = first(Kind::Received, Some(written));
        let applying = first(Kind::Applying, received);
        let updated = first(Kind::Updated, applying);
        let mut looks = String::new();
        for e in events {
            let overlaps = e.at >= written && e.at - e.took <= seen;
            match e.kind {
                Kind::Looked { full } if overlaps => {
                    let what = if full { "full look" } else { "states look" };
                    let _ = write!(looks, "; {what} {} ms", ms(e.took));
                }
                Kind::GaveWay if e.at >= written && e.at <= seen => {
                    looks.push_str("; a look gave way");
                }
                _ => {}
            }
        }
        Row {
            kind: sample.kind,
            acked,
            received: received.map(|r| r - written - acked),
            queued: received.zip(applying).map(|(r, a)| a - r),
            apply: applying.zip(updated).map(|(a, u)| u - a),
            after: updated.map(|u| seen - u),
            looks,
        }
    }
}

fn ms(us: i64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

fn unix_us(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// A line of rrd's text log: `<RFC 3339 UTC time> <LEVEL> <target>: <message> <fields>`.
fn parse_line(line: &str) -> Option<Event> {
    let (stamp, rest) = line.split_once(' ')?;
    let kind = if rest.contains("datastore changes received") {
        Kind::Received
    } else if rest.contains(": applying") {
        Kind::Applying
    } else if rest.contains("engine updated") {
        Kind::Updated
    } else if rest.contains("looked at the daemon") {
        Kind::Looked {
            full: rest.contains("full=true"),
        }
    } else if rest.contains("look gave way") {
        Kind::GaveWay
    } else {
        return None;
    };
    let took = rest
        .split_whitespace()
        .find_map(|f| f.strip_prefix("took="))
        .and_then(debug_duration_us)
        .unwrap_or(0);
    Some(Event {
        at: rfc3339_us(stamp)?,
        kind,
        took,
    })
}

/// `Duration`'s `Debug` text (`12.5ms`, `1.2s`, `950µs`, `80ns`) in
/// microseconds.
fn debug_duration_us(text: &str) -> Option<i64> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().ok()?;
    let us = match unit {
        "s" => n * 1e6,
        "ms" => n * 1e3,
        "µs" | "us" => n,
        "ns" => n / 1e3,
        _ => return None,
    };
    Some(us as i64)
}

/// `2026-12-04T22:40:01.123456Z` as Unix microseconds.
fn rfc3339_us(stamp: &str) -> Option<i64> {
    let stamp = stamp.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut d = date.split('-').map(str::parse::<i64>);
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(str::parse::<i64>);
    let (h, min, s) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let micros: i64 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3_600 + min * 60 + s) * 1_000_000) + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_timestamps_and_durations_read_back() {
        assert_eq!(rfc3339_us("1970-01-01T00:00:01.000002Z"), Some(1_000_002));
        assert_eq!(
            rfc3339_us("2026-12-04T22:40:01.5Z"),
            Some(1_796_424_001_500_000)
        );
        assert_eq!(debug_duration_us("12.5ms"), Some(12_500));
        assert_eq!(debug_duration_us("1.25s"), Some(1_250_000));
        assert_eq!(debug_duration_us("950µs"), Some(950));
        assert_eq!(debug_duration_us("later"), None);
    }

    #[test]
    fn a_sample_splits_into_rrds_steps_and_names_the_look_it_waited_for() {
        let log = "\
2026-12-04T22:40:01.000000Z DEBUG rrd_runtime::reconciler: looked at the daemon full=true took=90ms
2026-12-04T22:40:01.002000Z DEBUG rrd_runtime::reconciler: datastore changes received changes=1
2026-12-04T22:40:01.003000Z DEBUG rrd_runtime::reconciler: applying plan=+1
2026-12-04T22:40:01.010000Z  INFO rrd_runtime::reconciler: engine updated plan=+1 took=7ms
";
        let written = SystemTime::UNIX_EPOCH
            + Duration::from_micros(rfc3339_us("2026-12-04T22:40:00.950000Z").unwrap() as u64);
        let sample = Sample {
            kind: "add",
            written,
            acked: Duration::from_millis(40),
            took: Duration::from_millis(62),
        };
        let text = explain(log, &[sample], 1);
        assert!(
            text.contains("add        62.0 ms: 40.0 / 12.0 / 1.0 / 7.0 / 2.0; full look 90.0 ms"),
            "{text}"
        );
        assert_eq!(explain("no debug lines", &[], 1), "");
    }
}
