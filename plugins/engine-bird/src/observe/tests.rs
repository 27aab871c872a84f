//! Parsing `show protocols all` as captured from BIRD 2.0.12 and 1.6.8 RRs
//! (one established client with graceful restart, one neighbor nobody
//! listens on, one disabled mesh session, one BGP protocol not named by rrd, which is reported too).

use super::*;

fn reply(text: &str) -> Reply {
    Reply::parse(text).expect("a complete reply")
}

fn by_name(s: &[SessionStatus], name: &str) -> SessionStatus {
    s.iter()
        .find(|x| x.key.0 == name)
        .unwrap_or_else(|| panic!("{name} missing in {s:#?}"))
        .clone()
}

#[test]
fn bird2_sessions_have_state_counts_capabilities_and_client_flag() {
    let r = reply(include_str!("fixtures/bird2-show-protocols-all.txt"));
    let s = sessions(&r, None, &mut Sinces::default());
    let names: Vec<&str> = s.iter().map(|x| x.key.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "Node_127_9_2_2",
            "Node_127_9_2_3",
            "Mesh_127_9_2_4",
            "upstream"
        ],
        "device and static are not BGP; `upstream` (not rrd's) is reported for drift"
    );

    let up = by_name(&s, "Node_127_9_2_2");
    assert_eq!(up.state, SessionState::Established);
    assert_eq!(up.address, "127.9.2.2".parse::<IpAddr>().unwrap());
    assert_eq!(up.remote_as, Some(Asn(64512)));
    assert_local_time_of_day(up.since.as_deref(), "20:57:55.955");
    assert_eq!(up.info, "");
    // Two channels: ipv4 1/1 and ipv6 1/1.
    assert_eq!((up.routes_received, up.routes_sent), (Some(2), Some(2)));
    assert_eq!(
        up.peer_graceful_restart,
        BTreeSet::from([Family::Ipv4, Family::Ipv6])
    );
    assert_eq!(up.rr_client, Some(true));

    let active = by_name(&s, "Node_127_9_2_3");
    assert_eq!(active.state, SessionState::Active);
    assert_eq!(active.info, "Socket: Connection refused");
    assert_eq!((active.routes_received, active.routes_sent), (None, None));
    assert!(active.peer_graceful_restart.is_empty());
    assert_eq!(active.rr_client, None, "no Session line before Established");

    let down = by_name(&s, "Mesh_127_9_2_4");
    assert_eq!(down.state, SessionState::Down);
    assert_eq!(down.info, "");

    let by_hand = by_name(&s, "upstream");
    assert_eq!(by_hand.state, SessionState::Active);
    assert_eq!(by_hand.address, "127.9.2.5".parse::<IpAddr>().unwrap());
}

#[test]
fn bird16_sessions_parse_despite_the_other_section_order() {
    let r = reply(include_str!("fixtures/bird16-show-protocols-all.txt"));
    let s = sessions(&r, Some(Family::Ipv4), &mut Sinces::default());
    let names: Vec<&str> = s.iter().map(|x| x.key.0.as_str()).collect();
    assert_eq!(
        names,
        ["Global_127_9_3_2", "Global_127_9_3_3", "Mesh_127_9_3_4"]
    );

    let up = by_name(&s, "Global_127_9_3_2");
    assert_eq!(up.state, SessionState::Established);
    assert_local_time_of_day(up.since.as_deref(), "20:57:55");
    assert_eq!((up.routes_received, up.routes_sent), (Some(1), Some(1)));
    assert_eq!(up.peer_graceful_restart, BTreeSet::from([Family::Ipv4]));
    assert_eq!(up.rr_client, Some(true));
    assert_eq!(up.remote_as, Some(Asn(64512)));

    let active = by_name(&s, "Global_127_9_3_3");
    assert_eq!(active.state, SessionState::Active);
    assert_eq!(active.info, "Socket: Connection refused");
    assert_eq!(active.routes_received, Some(0));
    assert!(active.peer_graceful_restart.is_empty());

    assert_eq!(by_name(&s, "Mesh_127_9_3_4").state, SessionState::Down);
}

#[test]
fn bird16_graceful_restart_family_is_the_daemons() {
    let text = include_str!("fixtures/bird16-show-protocols-all.txt");
    let s = sessions(&reply(text), Some(Family::Ipv6), &mut Sinces::default());
    assert_eq!(
        by_name(&s, "Global_127_9_3_2").peer_graceful_restart,
        BTreeSet::from([Family::Ipv6])
    );
    // A GR capability without address families protects nothing.
    let aware = text.replace("restart-able", "restart-aware");
    let s = sessions(&reply(&aware), Some(Family::Ipv4), &mut Sinces::default());
    assert!(by_name(&s, "Global_127_9_3_2")
        .peer_graceful_restart
        .is_empty());
}

#[test]
fn only_the_neighbors_graceful_restart_families_count() {
    // Local capabilities announce ipv4 ipv6; the neighbor only ipv4.
    let text = include_str!("fixtures/bird2-show-protocols-all.txt");
    let at = text.find("     Neighbor capabilities").unwrap();
    let (head, tail) = text.split_at(at);
    let tail = tail.replacen("AF supported: ipv4 ipv6", "AF supported: ipv4", 1);
    let s = sessions(
        &reply(&format!("{head}{tail}")),
        None,
        &mut Sinces::default(),
    );
    assert_eq!(
        by_name(&s, "Node_127_9_2_2").peer_graceful_restart,
        BTreeSet::from([Family::Ipv4])
    );
}

#[test]
fn an_established_sessions_neighbor_id_is_the_peers_router_id() {
    let text = include_str!("fixtures/bird2-show-protocols-all.txt");
    let s = sessions(&reply(text), None, &mut Sinces::default());
    let id = |s: &[SessionStatus], name| by_name(s, name).peer_router_id;
    assert_eq!(id(&s, "Node_127_9_2_2"), Some(Ipv4Addr::new(127, 9, 2, 2)));
    assert_eq!(id(&s, "Node_127_9_2_3"), None, "Active: no OPEN seen");
    // A client whose router id is not its address.
    let other = text.replace(
        "Neighbor ID:      127.9.2.2",
        "Neighbor ID:      203.0.113.200",
    );
    let s = sessions(&reply(&other), None, &mut Sinces::default());
    assert_eq!(
        id(&s, "Node_127_9_2_2"),
        Some(Ipv4Addr::new(203, 0, 113, 200))
    );

    let text = include_str!("fixtures/bird16-show-protocols-all.txt");
    let s = sessions(&reply(text), Some(Family::Ipv4), &mut Sinces::default());
    assert_eq!(
        id(&s, "Global_127_9_3_2"),
        Some(Ipv4Addr::new(127, 9, 3, 2))
    );
    assert_eq!(id(&s, "Global_127_9_3_3"), None);
}

#[test]
fn info_column_maps_to_fsm_states() {
    for (state, info, want, rest) in [
        ("start", "Connect", SessionState::Connect, ""),
        ("start", "OpenSent      ", SessionState::OpenSent, ""),
        ("start", "OpenConfirm", SessionState::OpenConfirm, ""),
        ("start", "Passive", SessionState::Active, ""),
        (
            "start",
            "Idle          BGP Error: Bad BGP identifier",
            SessionState::Idle,
            "BGP Error: Bad BGP identifier",
        ),
        ("stop", "Close", SessionState::Idle, ""),
        (
            "down",
            "Received: Peer de-configured",
            SessionState::Down,
            "Received: Peer de-configured",
        ),
        ("up", "Established   ", SessionState::Established, ""),
        ("start", "Weird", SessionState::Idle, "Weird"),
    ] {
        assert_eq!(
            state_and_info(state, info),
            (want, rest.to_owned()),
            "{state} {info}"
        );
    }
}

#[test]
fn protocol_rows_keep_spaces_inside_the_info_column() {
    let row = ProtocolRow::parse("c_b        BGP        ---        start  20:08:37.146  Active        Socket: Connection refused").unwrap();
    assert_eq!(
        (row.name.as_str(), row.proto.as_str(), row.table.as_str()),
        ("c_b", "BGP", "---")
    );
    assert_eq!(
        (row.state.as_str(), row.since.as_str()),
        ("start", "20:08:37.146")
    );
    assert_eq!(row.info, "Active        Socket: Connection refused");
    assert!(ProtocolRow::parse("short row").is_none());
}

#[test]
fn show_status_gives_version_and_whether_reconfiguration_is_done() {
    let st = DaemonStatus::parse(&reply(include_str!("fixtures/bird16-show-status.txt")));
    assert_eq!(st.version.as_deref(), Some("BIRD 1.6.8"));
    assert!(st.is_settled());
    let busy = DaemonStatus::parse(&reply(
        "1000-BIRD 2.0.12\n1011-Router ID is 10.0.0.1\n0013 Reconfiguration in progress\n",
    ));
    assert!(!busy.is_settled());
}

#[test]
fn route_counts_accept_the_filtered_variant() {
    assert_eq!(
        route_counts("3 imported, 1 filtered, 5 exported, 2 preferred"),
        (Some(3), Some(5))
    );
    assert_eq!(route_counts("garbage"), (None, None));
}

#[test]
fn bird2_in_graceful_restart_recovery_shows_who_sent_end_of_rib() {
    // Captured from a BIRD 2 RR started with `-R`: two clients came back
    // and sent End-of-RIB, the third is still away.
    let r = reply(include_str!(
        "fixtures/bird2-show-protocols-all-recovery.txt"
    ));
    let s = sessions(&r, None, &mut Sinces::default());
    for name in ["Global_198_51_100_21", "Global_198_51_100_22"] {
        let up = by_name(&s, name);
        assert_eq!(up.state, SessionState::Established);
        assert_eq!(up.recovery, Recovery::RoutesDeferred, "{name}");
    }
    let away = by_name(&s, "Global_198_51_100_23");
    assert_eq!(away.state, SessionState::Active);
    assert_eq!(away.recovery, Recovery::AwaitingEndOfRib);
    let normal = sessions(
        &reply(include_str!("fixtures/bird2-show-protocols-all.txt")),
        None,
        &mut Sinces::default(),
    );
    assert!(normal.iter().all(|x| x.recovery == Recovery::Done));
}

#[test]
fn bird16_in_graceful_restart_recovery_waits_for_the_peer() {
    // Captured from BIRD 1.6.8 started with `-R`, its one peer not there.
    let r = reply(include_str!(
        "fixtures/bird16-show-protocols-all-recovery.txt"
    ));
    let s = sessions(&r, Some(Family::Ipv4), &mut Sinces::default());
    assert_eq!(
        by_name(&s, "Global_127_9_9_2").recovery,
        Recovery::AwaitingEndOfRib
    );
    let text = include_str!("fixtures/bird16-show-protocols-all-recovery.txt");
    let waiting = text.replace("GR recovery:    pending", "GR recovery:    waiting");
    let s = sessions(&reply(&waiting), Some(Family::Ipv4), &mut Sinces::default());
    assert_eq!(
        by_name(&s, "Global_127_9_9_2").recovery,
        Recovery::RoutesDeferred
    );
    let unlocked = text.replace("GR recovery:    pending", "GR recovery:   ");
    let s = sessions(
        &reply(&unlocked),
        Some(Family::Ipv4),
        &mut Sinces::default(),
    );
    assert_eq!(by_name(&s, "Global_127_9_9_2").recovery, Recovery::Done);
}

/// `since` is an RFC 3339 timestamp whose local time of day is BIRD's.
fn assert_local_time_of_day(since: Option<&str>, bird: &str) {
    let since = since.expect("since");
    let at: jiff::Timestamp = since.parse().expect("RFC 3339");
    let local = at.to_zoned(jiff::tz::TimeZone::system()).time();
    assert_eq!(local, bird.parse::<jiff::civil::Time>().unwrap(), "{since}");
}

#[test]
fn since_is_read_in_birds_local_time_and_never_in_the_future() {
    use super::since_timestamp;
    let tz = jiff::tz::TimeZone::fixed(jiff::tz::offset(2));
    let now = jiff::civil::date(2026, 12, 3)
        .at(18, 0, 0, 0)
        .to_zoned(tz)
        .unwrap();
    assert_eq!(
        since_timestamp("17:30:00.250", &now).as_deref(),
        Some("2026-12-03T15:30:00.25Z")
    );
    // Later in the day than now: BIRD printed yesterday's session.
    assert_eq!(
        since_timestamp("20:00:00", &now).as_deref(),
        Some("2026-12-02T18:00:00Z")
    );
    assert_eq!(
        since_timestamp("2026-11-30", &now).as_deref(),
        Some("2026-11-29T22:00:00Z")
    );
    assert_eq!(since_timestamp("Dec03", &now), None);
}

#[test]
fn route_counts_past_u64_saturate_instead_of_overflowing() {
    // Shown by the fuzz target `bird_reply` (fuzz/): the counts of two
    // channels were added unchecked.
    let r = reply(
        "1002-b1 BGP master up 12:00:00 Established\n\
         1006-  Neighbor address: 198.51.100.2\n   \
         Routes: 18446744073709551615 imported, 0 exported\n   \
         Routes: 1 imported, 18446744073709551615 exported\n   \
         Routes: 0 imported, 1 exported\n\
         0000 \n",
    );
    let s = sessions(&r, None, &mut Sinces::default());
    assert_eq!(s[0].routes_received, Some(u64::MAX));
    assert_eq!(s[0].routes_sent, Some(u64::MAX));
}

fn listed_from_fixture() -> std::collections::BTreeMap<String, SessionStatus> {
    let full = sessions(
        &reply(include_str!("fixtures/bird2-show-protocols-all.txt")),
        None,
        &mut Sinces::default(),
    );
    full.into_iter().map(|s| (s.key.0.clone(), s)).collect()
}

#[test]
fn the_table_alone_updates_states_over_the_last_full_listing() {
    let mut listed = listed_from_fixture();
    listed.remove("Mesh_127_9_2_4");
    // `show protocols` a moment later: the client that was trying still
    // is (another reason), the established one is still up, the mesh
    // session (not listed yet) appeared, `upstream` is gone.
    let table = "2002-Name       Proto      Table      State  Since         Info\n\
                 1002-device1    Device     ---        up     20:57:50.420  \n\
                 \x20Node_127_9_2_2 BGP        ---        up     20:57:55.955  Established   \n\
                 \x20Node_127_9_2_3 BGP        ---        start  21:03:01.000  Connect       Received: Hold timer expired\n\
                 \x20Mesh_127_9_2_4 BGP        ---        down   20:57:50.420  \n\
                 0000 \n";
    let st = states(&reply(table), &listed, &mut Sinces::default());
    assert_eq!(st.unlisted, ["Mesh_127_9_2_4"]);
    let names: Vec<&str> = st.sessions.iter().map(|x| x.key.0.as_str()).collect();
    assert_eq!(names, ["Node_127_9_2_2", "Node_127_9_2_3"]);
    let trying = &st.sessions[1];
    assert_eq!(trying.state, SessionState::Connect);
    assert_eq!(trying.info, "Received: Hold timer expired");
    assert_local_time_of_day(trying.since.as_deref(), "21:03:01.000");
    // What the table does not show comes from the listing.
    let up = &st.sessions[0];
    assert_eq!(up.address, "127.9.2.2".parse::<IpAddr>().unwrap());
    assert_eq!((up.routes_received, up.routes_sent), (Some(2), Some(2)));
    assert_eq!(up.rr_client, Some(true));
    assert_eq!(up.peer_router_id, Some(Ipv4Addr::new(127, 9, 2, 2)));
}

#[test]
fn a_session_that_came_up_or_went_down_since_the_listing_is_read_again() {
    // What BIRD shows only of an established session (the Session line:
    // route-reflector client or not; the peer's capabilities; the route
    // counts) is wrong in the listing once the session comes up or goes
    // down, so such a session is read in full, not merged.
    let listed = listed_from_fixture();
    let table = "2002-Name       Proto      Table      State  Since         Info\n\
                 1002-device1    Device     ---        up     20:57:50.420  \n\
                 \x20Node_127_9_2_2 BGP        ---        start  21:03:01.000  Active        Received: Hold timer expired\n\
                 \x20Node_127_9_2_3 BGP        ---        up     21:03:02.000  Established   \n\
                 \x20Mesh_127_9_2_4 BGP        ---        down   20:57:51.536  \n\
                 0000 \n";
    let st = states(&reply(table), &listed, &mut Sinces::default());
    assert_eq!(st.unlisted, ["Node_127_9_2_2", "Node_127_9_2_3"]);
    let names: Vec<&str> = st.sessions.iter().map(|x| x.key.0.as_str()).collect();
    assert_eq!(names, ["Mesh_127_9_2_4"]);
}

#[test]
fn a_since_text_is_converted_once_and_forgotten_two_looks_after_its_last() {
    let mut sinces = Sinces::default();
    sinces.start_look();
    let first = sinces.of("10:00:00.000");
    assert_eq!(first, since_timestamp("10:00:00.000", &jiff::Zoned::now()));
    sinces.start_look();
    assert!(sinces.last_look.contains_key("10:00:00.000"));
    assert_eq!(sinces.of("10:00:00.000"), first);
    assert!(sinces.this_look.contains_key("10:00:00.000"));
    sinces.start_look();
    sinces.start_look();
    assert!(sinces.this_look.is_empty() && sinces.last_look.is_empty());
}
