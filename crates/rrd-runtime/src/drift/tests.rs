//! Drift detection and the repair clock, without a daemon.

use std::collections::BTreeSet;

use rrd_core::testing::fixtures;
use rrd_core::{compute, Recovery, RrIdentity, SessionState};

use super::*;

fn seed_config() -> RrConfig {
    let rr = RrIdentity::v4("172.17.42.40".parse().unwrap());
    compute(&fixtures::seed(), &rr).unwrap().config
}

fn held_as_applied(config: &RrConfig) -> Vec<SessionStatus> {
    config
        .neighbors
        .iter()
        .map(|(k, n)| session(&k.0, n.address, n.remote_as))
        .collect()
}

fn session(name: &str, address: IpAddr, asn: Asn) -> SessionStatus {
    SessionStatus {
        key: PeerKey(name.into()),
        address,
        remote_as: Some(asn),
        state: SessionState::Established,
        since: None,
        info: String::new(),
        routes_received: None,
        routes_sent: None,
        peer_graceful_restart: BTreeSet::new(),
        rr_client: None,
        recovery: Recovery::Done,
        peer_router_id: None,
    }
}

const RESYNC: Duration = Duration::from_secs(300);

#[test]
fn a_daemon_holding_what_was_applied_has_no_drift() {
    let config = seed_config();
    let mut w = DriftWatch::default();
    w.applied(&config, None);
    let v = w.observe(&held_as_applied(&config), Instant::now(), 1000, RESYNC);
    assert_eq!(v.report, None);
    assert!(!v.changed && !v.repair);
}

#[test]
fn nothing_applied_yet_is_not_drift() {
    let config = seed_config();
    let mut w = DriftWatch::default();
    let v = w.observe(&held_as_applied(&config), Instant::now(), 1000, RESYNC);
    assert_eq!(v.report, None);
}

#[test]
fn a_hand_added_session_is_unexpected_and_repaired_after_the_resync_interval() {
    let config = seed_config();
    let mut w = DriftWatch::default();
    w.applied(&config, None);
    let mut held = held_as_applied(&config);
    held.push(session(
        "by_hand",
        "198.51.100.99".parse().unwrap(),
        Asn(65000),
    ));
    let t0 = Instant::now();

    let first = w.observe(&held, t0, 1000, RESYNC);
    let report = first.report.expect("drift reported");
    assert_eq!(report.drift.unexpected, ["by_hand (198.51.100.99)"]);
    assert!(report.drift.missing.is_empty() && report.drift.changed.is_empty());
    assert_eq!((report.since_unix, report.repair_at_unix), (1000, 1300));
    assert!(first.changed, "a new drift is logged");
    assert!(!first.repair);

    let later = w.observe(&held, t0 + Duration::from_secs(299), 1299, RESYNC);
    assert!(
        !later.changed && !later.repair,
        "the same drift is not logged again"
    );

    let due = w.observe(&held, t0 + RESYNC, 1300, RESYNC);
    assert!(due.repair, "repaired once it lasted the resync interval");
    assert_eq!(due.report.as_ref().unwrap().repairs, 1);
    let after = w.observe(&held, t0 + RESYNC + Duration::from_secs(1), 1301, RESYNC);
    assert!(
        !after.repair,
        "a repair that left drift waits another interval"
    );
    assert_eq!(after.report.unwrap().since_unix, 1000);

    let gone = w.observe(&held_as_applied(&config), t0 + RESYNC * 2, 1600, RESYNC);
    assert_eq!(gone.report, None);
    assert!(gone.changed, "the end of a drift is logged");
}

#[test]
fn a_removed_session_is_missing_and_a_changed_as_is_changed() {
    let config = seed_config();
    let mut w = DriftWatch::default();
    w.applied(&config, None);
    let mut held = held_as_applied(&config);
    let removed = held.pop().unwrap();
    held[0].remote_as = Some(Asn(65099));
    let report = w
        .observe(&held, Instant::now(), 1000, RESYNC)
        .report
        .expect("drift");
    assert_eq!(
        report.drift.missing,
        [format!("{} ({})", removed.key.0, removed.address)]
    );
    assert_eq!(report.drift.changed.len(), 1, "{report:?}");
    assert!(report.drift.changed[0].contains("AS 65099"), "{report:?}");
    assert!(report.drift.unexpected.is_empty());
}

#[test]
fn a_daemon_that_restarted_empty_forgets_what_was_applied() {
    let config = seed_config();
    let mut w = DriftWatch::default();
    w.applied(&config, None);
    w.forget();
    assert_eq!(w.observe(&[], Instant::now(), 1000, RESYNC).report, None);
}
