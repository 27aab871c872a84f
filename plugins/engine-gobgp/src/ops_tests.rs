//! Unit tests of validation and RPC planning (no daemon needed).

use std::net::Ipv4Addr;

use rrd_core::testing::conformance::{suite_config, EngineSuiteParams};
use rrd_core::{plan, Asn, NextHop, PeerKey, Role, RrConfig};

use super::*;
use crate::config::GobgpConfig;

fn suite() -> RrConfig {
    suite_config(&EngineSuiteParams {
        router_id: "198.51.100.1".parse().unwrap(),
        local_v4: "198.51.100.1".parse().unwrap(),
        local_v6: None,
        neighbors_v4: (2..6).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect(),
        neighbors_v6: vec![],
    })
}

fn validated(c: &RrConfig) -> Validated {
    validate(c, &GobgpConfig::default()).unwrap()
}

/// gobgpd holding exactly `c`.
fn running(c: &RrConfig) -> Live {
    let v = validated(c);
    Live::Running {
        global: v.global.clone(),
        peers: v.peers.values().map(|s| (s.address, s.clone())).collect(),
    }
}

/// `c` with its first `Node_` session renamed `Global_`, same address:
/// the new config, the old key and the new one.
fn renamed_at_the_same_address(c: &RrConfig) -> (RrConfig, PeerKey, PeerKey) {
    let mut d = c.clone();
    let old_key = c
        .neighbors
        .keys()
        .find(|k| k.0.starts_with("Node_"))
        .cloned()
        .unwrap();
    let n = d.neighbors.remove(&old_key).unwrap();
    let new_key = PeerKey(old_key.0.replacen("Node_", "Global_", 1));
    d.neighbors.insert(new_key.clone(), n);
    (d, old_key, new_key)
}

fn names(ops: &[Op]) -> Vec<String> {
    ops.iter().map(Op::describe).collect()
}

#[test]
fn a_daemon_without_bgp_gets_start_bgp_and_every_peer_whatever_the_plan() {
    let c = suite();
    let ops = operations(&validated(&c), &Plan::default(), &Live::NotRunning);
    assert!(matches!(ops[0], Op::StartBgp(_)));
    assert_eq!(ops.len(), 1 + c.neighbors.len());
    assert!(ops[1..].iter().all(|o| matches!(o, Op::AddPeer { .. })));
}

#[test]
fn an_empty_plan_against_a_matching_daemon_sends_nothing() {
    let c = suite();
    assert!(operations(&validated(&c), &plan(&c, Some(&c)), &running(&c)).is_empty());
}

#[test]
fn a_router_change_restarts_bgp_and_re_adds_every_peer() {
    let c = suite();
    let mut d = c.clone();
    d.router.router_id = "198.51.100.99".parse().unwrap();
    let ops = operations(&validated(&d), &plan(&d, Some(&c)), &running(&c));
    assert_eq!(ops[0], Op::StopBgp);
    assert!(matches!(ops[1], Op::StartBgp(ref g) if g.router_id.to_string() == "198.51.100.99"));
    assert_eq!(ops.len(), 2 + d.neighbors.len());
}

#[test]
fn a_router_change_gobgp_does_not_see_touches_nothing() {
    let c = suite();
    let mut d = c.clone();
    d.router.rules = rrd_core::RuleSet::CalicoV3;
    let p = plan(&d, Some(&c));
    assert!(p.router.is_some());
    assert!(operations(&validated(&d), &p, &running(&c)).is_empty());
}

#[test]
fn removes_come_first_then_updates_then_adds() {
    let c = suite();
    let mut d = c.clone();
    let first = d.neighbors.keys().next().unwrap().clone();
    d.neighbors.remove(&first);
    let (k, n) = d.neighbors.iter_mut().next().unwrap();
    let timers_key = k.clone();
    n.keepalive_time = Some(7);
    let mut extra = n.clone();
    extra.address = "198.51.100.77".parse().unwrap();
    d.neighbors
        .insert(PeerKey("Node_198_51_100_77".into()), extra);
    let ops = operations(&validated(&d), &plan(&d, Some(&c)), &running(&c));
    assert_eq!(
        names(&ops),
        [
            format!("DeletePeer {} ({first})", c.neighbors[&first].address),
            format!(
                "UpdatePeer {} ({timers_key})",
                d.neighbors[&timers_key].address
            ),
            "AddPeer 198.51.100.77 (Node_198_51_100_77)".to_owned(),
        ]
    );
}

#[test]
fn a_changed_client_flag_is_a_delete_and_add_of_that_peer_only() {
    let c = suite();
    let mut d = c.clone();
    let (key, n) = d
        .neighbors
        .iter_mut()
        .find(|(_, n)| n.role.is_client())
        .unwrap();
    let key = key.clone();
    n.role = Role::NonClient;
    let address = n.address;
    let ops = operations(&validated(&d), &plan(&d, Some(&c)), &running(&c));
    assert_eq!(
        names(&ops),
        [
            format!("DeletePeer {address} ({key})"),
            format!("AddPeer {address} ({key})")
        ]
    );
}

#[test]
fn a_renamed_session_to_the_same_address_is_deleted_before_it_is_added() {
    let c = suite();
    let (d, old_key, new_key) = renamed_at_the_same_address(&c);
    let n = &c.neighbors[&old_key];
    let ops = operations(&validated(&d), &plan(&d, Some(&c)), &running(&c));
    assert_eq!(
        names(&ops),
        [
            format!("DeletePeer {} ({old_key})", n.address),
            format!("AddPeer {} ({new_key})", n.address)
        ]
    );
}

#[test]
fn a_stale_plan_does_not_re_add_a_peer_the_daemon_already_holds() {
    let c = suite();
    // The plan was computed against an empty daemon, but gobgpd already
    // holds everything.
    let p = plan(&c, None);
    let ops = operations(&validated(&c), &p, &running(&c));
    assert!(ops.is_empty(), "{:?}", names(&ops));
}

#[test]
fn a_metadata_only_update_sends_nothing() {
    let c = suite();
    let mut d = c.clone();
    for n in d.neighbors.values_mut() {
        n.peer_node = Some("kube-node9".into());
        n.local_as_explicit = !n.local_as_explicit;
    }
    let p = plan(&d, Some(&c));
    assert_eq!(p.update.len(), c.neighbors.len());
    assert!(operations(&validated(&d), &p, &running(&c)).is_empty());
}

#[test]
fn two_sessions_to_one_address_are_unsupported_and_both_are_named() {
    let mut c = suite();
    let (_, n) = c.neighbors.iter().next().unwrap();
    let mut other = n.clone();
    other.port = Some(1179);
    let address = other.address;
    c.neighbors.insert(
        rrd_core::model::session_name(other.kind, other.address, other.port),
        other,
    );
    let err = validate(&c, &GobgpConfig::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&address.to_string()), "{err}");
    assert!(
        err.contains("port 1179") && err.contains("port 179"),
        "{err}"
    );
}

#[test]
fn every_unsupported_neighbor_is_listed_in_one_error() {
    let mut c = suite();
    for n in c.neighbors.values_mut() {
        n.next_hop = NextHop::SetSelf;
    }
    let err = validate(&c, &GobgpConfig::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err.matches("next hop self").count(),
        c.neighbors.len(),
        "{err}"
    );
}

#[test]
fn a_changed_remote_as_on_the_mesh_peer_is_a_reset() {
    let c = suite();
    let mut d = c.clone();
    let (key, n) = d
        .neighbors
        .iter_mut()
        .find(|(k, _)| k.0.starts_with("Mesh_"))
        .unwrap();
    let key = key.clone();
    n.remote_as = Asn(64513);
    let ops = operations(&validated(&d), &plan(&d, Some(&c)), &running(&c));
    assert_eq!(ops.len(), 2, "{:?}", names(&ops));
    assert!(matches!(&ops[0], Op::DeletePeer { key: k, .. } if *k == key));
    assert!(matches!(&ops[1], Op::AddPeer { key: k, spec } if *k == key && spec.peer_asn == 64513));
}

#[test]
fn render_is_gobgpd_toml_with_one_neighbor_per_session_and_no_passwords() {
    use rrd_core::BgpEngine;
    let mut c = suite();
    for n in c.neighbors.values_mut() {
        n.password = Some(rrd_core::Secret::new("hunter2"));
    }
    let engine = crate::GobgpEngine::new(GobgpConfig::default());
    let text = engine.render(&c).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(doc["global"]["config"]["as"].as_integer(), Some(64512));
    let neighbors = doc["neighbors"].as_array().unwrap();
    assert_eq!(neighbors.len(), c.neighbors.len(), "{text}");
    for (n, (key, want)) in neighbors.iter().zip(&c.neighbors) {
        let conf = &n["config"];
        assert_eq!(conf["description"].as_str(), Some(key.0.as_str()));
        assert_eq!(
            conf["neighbor-address"].as_str(),
            Some(want.address.to_string().as_str())
        );
        assert_eq!(
            n.get("route-reflector").is_some(),
            want.role.is_client(),
            "{key}"
        );
        assert_eq!(
            n["graceful-restart"]["config"]["enabled"].as_bool(),
            Some(true)
        );
    }
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("<redacted>"));
    assert!(!text.contains("Some("), "no Rust debug output: {text}");
}

#[test]
fn presumed_additions_and_removals_are_what_operations_sends_against_the_daemon_that_holds_the_old_config(
) {
    let c = suite();
    let mut d = c.clone();
    let first = d.neighbors.keys().next().unwrap().clone();
    d.neighbors.remove(&first);
    let mut extra = d.neighbors.values().next().unwrap().clone();
    extra.address = "198.51.100.77".parse().unwrap();
    d.neighbors
        .insert(PeerKey("Node_198_51_100_77".into()), extra);
    let p = plan(&d, Some(&c));
    let v = validate_sessions(&d, planned_keys(&p), &GobgpConfig::default()).unwrap();
    let presumed = presumed_operations(&v, &p).expect("additions and removals only");
    assert_eq!(presumed, operations(&validated(&d), &p, &running(&c)));
    assert_eq!(
        names(&presumed),
        [
            format!("DeletePeer {} ({first})", c.neighbors[&first].address),
            "AddPeer 198.51.100.77 (Node_198_51_100_77)".to_owned(),
        ]
    );
}

#[test]
fn nothing_is_presumed_of_a_changed_session_a_router_change_or_a_reused_address() {
    let c = suite();
    let presumed = |d: &RrConfig| {
        let p = plan(d, Some(&c));
        presumed_operations(&validated(d), &p)
    };
    let mut changed = c.clone();
    changed
        .neighbors
        .values_mut()
        .next()
        .unwrap()
        .keepalive_time = Some(7);
    assert_eq!(presumed(&changed), None);

    let mut router = c.clone();
    router.router.router_id = "198.51.100.99".parse().unwrap();
    assert_eq!(presumed(&router), None);

    // Renamed at the same address: what gobgpd holds there decides.
    let (renamed, _, _) = renamed_at_the_same_address(&c);
    assert_eq!(presumed(&renamed), None);
}
