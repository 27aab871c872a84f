//! Scenario: rrd drives a BIRD route reflector for three Calico-like BIRD
//! 1.6 clients, in network namespaces (issue 2).
//!
//! RR 198.51.100.10 (registered with cluster id 1.0.0.1, global peer in
//! AS 64512), clients 198.51.100.21..24 each advertising a 203.0.113.x/30
//! block. Checked, for BIRD 2 and for BIRD 1.6 as the RR:
//! * every client's kernel table holds the other clients' blocks, learned
//!   through the RR with ORIGINATOR_ID = the originating client and
//!   CLUSTER_LIST = 1.0.0.1;
//! * adding a fourth client to the topology file brings its session up
//!   without restarting the others (BIRD "since" unchanged); removing it
//!   takes it down; an invalid edit changes nothing;
//! * restarting rrd against the unchanged topology changes nothing.

mod rr;

use std::time::Duration;

use rr::Scenario;
use rrd_lab::route_reflector::RrDaemon;

const SETTLE: Duration = Duration::from_secs(60);

fn scenario(daemon: RrDaemon) {
    let mut s = Scenario::start(daemon, 3);
    let blocks = s.client_blocks();

    // Every client learns every other client's block through the RR.
    for (i, c) in s.clients.iter().enumerate() {
        let others: Vec<String> = blocks
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, b)| b.clone())
            .collect();
        c.wait_for_routes(&others, SETTLE);
    }
    for (i, c) in s.clients.iter().enumerate() {
        for (j, origin) in s.clients.iter().enumerate() {
            if i == j {
                continue;
            }
            let a = c.route_attributes(&origin.block);
            assert_eq!(
                a.originator_id.as_deref(),
                Some(origin.host.ipv4.to_string().as_str()),
                "{} -> {}: {a:?}",
                origin.host.name,
                c.host.name
            );
            assert_eq!(a.cluster_list.as_deref(), Some("1.0.0.1"), "{a:?}");
            assert_eq!(
                a.next_hop.as_deref(),
                Some(origin.host.ipv4.to_string().as_str()),
                "{a:?}"
            );
        }
    }
    let before = s.rr_since();
    assert_eq!(before.len(), 3, "{before:?}");

    // A fourth client: its session comes up, the others keep theirs.
    s.add_client(24);
    let c4_block = s.clients[3].block.clone();
    for c in &s.clients[..3] {
        c.wait_for_routes(std::slice::from_ref(&c4_block), SETTLE);
    }
    s.clients[3].wait_for_routes(&blocks, SETTLE);
    rrd_lab::since::assert_not_restarted(&before, &s.rr_since(), "when a client was added");

    // Removing it takes its session down and its block away.
    s.remove_node("c24");
    rrd_lab::poll::until("c24's session removed from the RR", SETTLE, || {
        let since = s.rr_since();
        if since.contains_key("Global_198_51_100_24") {
            Err(format!("{since:?}"))
        } else {
            Ok(())
        }
    });
    rrd_lab::poll::until("c24's block withdrawn from c21", SETTLE, || {
        let routes = s.clients[0].host.bird_routes();
        if routes.contains(&c4_block) {
            Err(format!("{routes:?}"))
        } else {
            Ok(())
        }
    });
    rrd_lab::since::assert_not_restarted(&before, &s.rr_since(), "when a client was removed");
    // BIRD drops the session once it loaded the new file; the file becomes
    // the live one right after (once it is on disk).
    rrd_lab::poll::until("c24's session gone from the RR's live file", SETTLE, || {
        let live = String::from_utf8_lossy(&s.rr_config_bytes()).into_owned();
        if live.contains("Global_198_51_100_24") {
            Err("still in the live file".into())
        } else {
            Ok(())
        }
    });

    // An invalid edit changes nothing.
    let live = s.rr_config_bytes();
    s.write_raw_topology("[[nodes]]\nname = \"broken\"\nipv4 = \"198.51.100.300\"\n");
    rrd_lab::poll::until("the invalid edit to be reported", SETTLE, || {
        let st = s.status();
        if st["source"]["rejected_entries"].as_u64() >= Some(1) {
            Ok(())
        } else {
            Err(format!("{:#}", st["source"]))
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        s.rr_config_bytes(),
        live,
        "an invalid edit changed the daemon's config"
    );
    rrd_lab::since::assert_not_restarted(&before, &s.rr_since(), "after an invalid edit");
    s.write_topology();

    // Restarting rrd against the unchanged topology changes nothing.
    let applied_before = s.status()["applies"]["changed"].as_u64().unwrap_or(0);
    assert!(applied_before >= 1);
    s.restart_rrd();
    // In sync may come before the first observation of the daemon.
    let st = s.wait_established();
    assert_eq!(
        st["applies"]["changed"], 0,
        "restarted rrd changed the engine: {:#}",
        st["applies"]
    );
    assert_eq!(s.rr_config_bytes(), live);
    rrd_lab::since::assert_not_restarted(&before, &s.rr_since(), "when rrd restarted");
    // rrd reports `since` as an RFC 3339 timestamp of the instant BIRD shows.
    let bird_since = s.rr_since();
    let reported = st["sessions"].as_array().expect("status sessions");
    assert!(!reported.is_empty());
    for session in reported {
        let name = session["key"].as_str().expect("session key");
        let since = session["since"].as_str().expect("since");
        assert!(since.parse::<jiff::Timestamp>().is_ok(), "{name}: {since}");
        assert!(
            rrd_lab::since::same_instant(&bird_since[name], since),
            "{name}: rrd says {since}, BIRD {}",
            bird_since[name]
        );
    }
    for c in &s.clients[..3] {
        let others: Vec<String> = blocks.iter().filter(|b| **b != c.block).cloned().collect();
        c.wait_for_routes(&others, Duration::from_secs(5));
    }
}

#[test]
fn bird2_rr_reflects_between_calico_clients_and_applies_changes_minimally() {
    scenario(RrDaemon::Bird2);
}

#[test]
fn bird16_rr_reflects_between_calico_clients_and_applies_changes_minimally() {
    scenario(RrDaemon::Bird16);
}
