//! Telling whether a BIRD session restarted, from `show protocols`.
//!
//! BIRD prints "since" by converting its monotonic clock to wall time at
//! print time, so the same instant reads a millisecond apart between two
//! calls (BIRD 2) or a second apart (BIRD 1.6 prints seconds). A restarted
//! session is seconds later, so the comparison allows one second.

use std::collections::BTreeMap;

/// `show protocols` output -> our BGP sessions (`Global_`, `Node_`,
/// `Mesh_`) and their (since, state + info) columns.
pub fn sessions(show_protocols: &str) -> BTreeMap<String, (String, String)> {
    show_protocols
        .lines()
        .filter_map(|l| {
            let cols: Vec<_> = l.split_whitespace().collect();
            let name = *cols.first()?;
            let ours = ["Global_", "Node_", "Mesh_"]
                .iter()
                .any(|p| name.starts_with(p));
            (ours && cols.len() >= 5).then(|| {
                let state = [&cols[3..4], cols.get(5..).unwrap_or(&[])]
                    .concat()
                    .join(" ");
                (name.to_string(), (cols[4].to_string(), state))
            })
        })
        .collect()
}

/// `show protocols` output -> our BGP sessions and their "since" column.
pub fn since_by_session(show_protocols: &str) -> BTreeMap<String, String> {
    sessions(show_protocols)
        .into_iter()
        .map(|(name, (since, _))| (name, since))
        .collect()
}

/// Milliseconds into the (local) day: BIRD's `HH:MM:SS[.mmm]`, or an RFC
/// 3339 timestamp as rrd reports `since`, converted to local time.
fn since_ms(text: &str) -> i64 {
    let local;
    let text = match text.parse::<jiff::Timestamp>() {
        Ok(at) => {
            local = at
                .to_zoned(jiff::tz::TimeZone::system())
                .time()
                .strftime("%H:%M:%S%.f")
                .to_string();
            local.as_str()
        }
        Err(_) => text,
    };
    let mut parts = text.split(':');
    let h: i64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let m: i64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let s: f64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0.0);
    (h * 3600 + m * 60) * 1000 + (s * 1000.0).round() as i64
}

/// Whether two "since" readings of BIRD (as it prints them, or as rrd
/// reports them) can be the same instant.
pub fn same_instant(a: &str, b: &str) -> bool {
    (since_ms(a) - since_ms(b)).abs() <= 1000
}

/// Panic if a session of `before` vanished or restarted in `after`
/// (name -> since, as [`crate::route_reflector::RouteReflectorHost::bird_since`]).
pub fn assert_not_restarted(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    when: &str,
) {
    for (name, since) in before {
        let now = after
            .get(name)
            .unwrap_or_else(|| panic!("session {name} vanished {when}: {after:?}"));
        let drift = (since_ms(now) - since_ms(since)).abs();
        assert!(
            drift <= 1000,
            "session {name} restarted {when}: since {since} -> {now}"
        );
    }
}

/// Panic if the sessions of two `show protocols` outputs differ in anything
/// but BIRD's print-time jitter of "since".
pub fn assert_same_sessions(before: &str, after: &str, when: &str) {
    let (b, a) = (sessions(before), sessions(after));
    assert_eq!(
        b.keys().collect::<Vec<_>>(),
        a.keys().collect::<Vec<_>>(),
        "sessions changed {when}"
    );
    for (name, (since, state)) in &b {
        let (since_now, state_now) = &a[name];
        assert_eq!(state, state_now, "session {name} changed state {when}");
        let drift = (since_ms(since_now) - since_ms(since)).abs();
        assert!(
            drift <= 1000,
            "session {name} restarted {when}: since {since} -> {since_now}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIRD2: &str = "BIRD 2.0.12 ready.\nName       Proto      Table      State  Since         Info\nGlobal_198_51_100_21 BGP        ---        up     21:02:58.569  Established   \n";

    #[test]
    fn a_millisecond_of_print_jitter_is_not_a_restart() {
        let later = BIRD2.replace("58.569", "58.570");
        assert_same_sessions(BIRD2, &later, "now");
    }

    #[test]
    #[should_panic(expected = "restarted")]
    fn seconds_later_is_a_restart() {
        assert_same_sessions(BIRD2, &BIRD2.replace("21:02:58.569", "21:03:05.120"), "now");
    }

    #[test]
    #[should_panic(expected = "changed state")]
    fn a_state_change_is_reported() {
        assert_same_sessions(BIRD2, &BIRD2.replace("Established", "Active"), "now");
    }

    #[test]
    fn birds_time_of_day_and_rrds_timestamp_of_the_same_instant_match() {
        let at: jiff::Timestamp = "2026-12-03T18:41:55.691Z".parse().unwrap();
        let local = at.to_zoned(jiff::tz::TimeZone::system()).time();
        let bird = local.strftime("%H:%M:%S%.3f").to_string();
        assert!(same_instant(&bird, "2026-12-03T18:41:55.691Z"), "{bird}");
        assert!(!same_instant(&bird, "2026-12-03T18:41:58.691Z"), "{bird}");
    }
}
