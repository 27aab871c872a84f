//! The exposition, from a status and observations made by hand.

use std::collections::BTreeSet;

use rrd_core::{Asn, Recovery, SessionState};

use super::*;

fn session(name: &str, address: &str, state: SessionState) -> SessionStatus {
    SessionStatus {
        key: PeerKey(name.into()),
        address: address.parse().unwrap(),
        remote_as: Some(Asn(64512)),
        state,
        since: None,
        info: String::new(),
        routes_received: Some(3),
        routes_sent: Some(5),
        peer_graceful_restart: BTreeSet::new(),
        rr_client: Some(true),
        recovery: Recovery::Done,
        peer_router_id: None,
    }
}

fn desired_client(address: &str) -> DesiredSession {
    DesiredSession {
        address: address.parse().unwrap(),
        remote_as: Asn(64512),
        local_as: Asn(64512),
        rr_client: true,
        cluster_id: None,
        peer_node: None,
    }
}

fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn counters_and_readiness_come_from_the_status() {
    let m = Metrics::new("bird", "etcd");
    let mut s = Status::default();
    s.applies.changed = 3;
    s.applies.held = 1;
    s.source.rejected_entries = 2;
    let text = m.render(&s);
    assert!(
        text.contains("rrd_reconciles_total{outcome=\"changed\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("rrd_reconciles_total{outcome=\"held\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("rrd_source_rejected_entries_total 2"),
        "{text}"
    );
    assert!(text.contains("rrd_ready 0"), "{text}");
    assert!(
        text.contains("rrd_build_info{version=\"0.1.0\",engine=\"bird\",source=\"etcd\"} 1")
            || text.contains("rrd_build_info{version="),
        "{text}"
    );
    s.applies.changed = 4;
    let again = m.render(&s);
    assert!(
        again.contains("rrd_reconciles_total{outcome=\"changed\"} 4"),
        "{again}"
    );
}

#[test]
fn each_peer_has_a_zero_filled_one_hot_state_and_counts() {
    let m = Metrics::new("bird", "file");
    let desired = BTreeMap::from([(
        PeerKey("Global_198_51_100_2".into()),
        desired_client("198.51.100.2"),
    )]);
    m.observe_sessions(
        &[
            session(
                "Global_198_51_100_2",
                "198.51.100.2",
                SessionState::Established,
            ),
            session("by_hand", "198.51.100.9", SessionState::Active),
        ],
        &desired,
    );
    let text = m.render(&Status::default());
    let states = lines_with(
        &text,
        "rrd_peer_session_state{session=\"Global_198_51_100_2\"",
    );
    assert_eq!(states.len(), STATES.len(), "{text}");
    assert_eq!(
        states.iter().filter(|l| l.ends_with(" 1")).count(),
        1,
        "{text}"
    );
    assert!(text.contains("rrd_peer_session_state{session=\"Global_198_51_100_2\",neighbor=\"198.51.100.2\",role=\"client\",state=\"established\"} 1"), "{text}");
    assert!(text.contains("rrd_peer_session_up{session=\"by_hand\",neighbor=\"198.51.100.9\",role=\"unmanaged\"} 0"), "{text}");
    assert!(text.contains("rrd_peer_prefixes_received{session=\"Global_198_51_100_2\",neighbor=\"198.51.100.2\",role=\"client\"} 3"), "{text}");
    assert!(text.contains("rrd_peer_session_flaps_total{session=\"Global_198_51_100_2\",neighbor=\"198.51.100.2\",role=\"client\"} 0"), "{text}");
    assert_eq!(
        lines_with(&text, "rrd_peer_state_seconds{").len(),
        2,
        "{text}"
    );
}

#[test]
fn leaving_established_is_a_flap_and_a_vanished_session_loses_its_series() {
    let m = Metrics::new("gobgp", "file");
    let desired = BTreeMap::new();
    let up = session(
        "Node_198_51_100_3",
        "198.51.100.3",
        SessionState::Established,
    );
    let mut down = up.clone();
    down.state = SessionState::Active;
    for s in [&up, &down, &up, &down] {
        m.observe_sessions(std::slice::from_ref(s), &desired);
    }
    let text = m.render(&Status::default());
    assert!(text.contains("rrd_peer_session_flaps_total{session=\"Node_198_51_100_3\",neighbor=\"198.51.100.3\",role=\"unmanaged\"} 2"), "{text}");
    m.observe_sessions(&[], &desired);
    let text = m.render(&Status::default());
    assert!(!text.contains("Node_198_51_100_3"), "{text}");
}

#[test]
fn each_look_shows_what_changed_since_the_last_one() {
    let m = Metrics::new("bird", "file");
    let name = "Node_198_51_100_4";
    let client = BTreeMap::from([(PeerKey(name.into()), desired_client("198.51.100.4"))]);
    let mut s = session(name, "198.51.100.4", SessionState::Active);
    m.observe_sessions(std::slice::from_ref(&s), &client);
    s.state = SessionState::Established;
    s.routes_received = Some(7);
    s.routes_sent = None;
    m.observe_sessions(std::slice::from_ref(&s), &client);
    let text = m.render(&Status::default());
    let labels = format!("session=\"{name}\",neighbor=\"198.51.100.4\",role=\"client\"");
    assert!(
        text.contains(&format!("rrd_peer_session_up{{{labels}}} 1")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "rrd_peer_session_state{{{labels},state=\"established\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "rrd_peer_session_state{{{labels},state=\"active\"}} 0"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("rrd_peer_prefixes_received{{{labels}}} 7")),
        "{text}"
    );
    assert!(!text.contains("rrd_peer_prefixes_sent{"), "{text}");

    // The same name, now unmanaged: the client's series go, new ones come.
    m.observe_sessions(std::slice::from_ref(&s), &BTreeMap::new());
    let text = m.render(&Status::default());
    assert!(!text.contains("role=\"client\""), "{text}");
    assert!(text.contains("rrd_peer_prefixes_received{session=\"Node_198_51_100_4\",neighbor=\"198.51.100.4\",role=\"unmanaged\"} 7"), "{text}");
    assert!(text.contains("rrd_peer_session_flaps_total{session=\"Node_198_51_100_4\",neighbor=\"198.51.100.4\",role=\"unmanaged\"} 0"), "{text}");
}

#[test]
fn apply_durations_fill_the_histogram() {
    let m = Metrics::new("bird", "file");
    m.apply_took(Duration::from_millis(3));
    let text = m.render(&Status::default());
    assert!(
        text.contains("rrd_apply_duration_seconds_count 1"),
        "{text}"
    );
}
