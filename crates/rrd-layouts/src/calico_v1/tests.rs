use std::net::IpAddr;

use rrd_core::testing::fixtures;
use rrd_core::{Asn, ClusterId, Node, PeerRule, RouteReflector, TopologyChange};

use super::*;

const P: &str = "/calico/bgp/v1";

fn k(rel: &str) -> String {
    format!("{P}/{rel}")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn node(name: &str, v4: &str) -> Node {
    let mut n = Node::new(name);
    n.ipv4 = v4.parse().ok();
    n
}

/// The keys calicoctl and the README's curl left in etcd for the seed
/// (without the `node-mesh off` step, which `fixtures::seed` leaves out).
fn seed_kvs() -> Vec<(String, String)> {
    let mut kvs = Vec::new();
    for (name, addr) in [
        ("kube-master", "172.17.42.30"),
        ("kube-node1", "172.17.42.31"),
        ("kube-node2", "172.17.42.32"),
    ] {
        kvs.push((k(&format!("host/{name}/ip_addr_v4")), addr.to_owned()));
        kvs.push((k(&format!("host/{name}/ip_addr_v6")), String::new()));
    }
    kvs.push((
        k("rr_v4/172.17.42.40"),
        r#"{"ip":"172.17.42.40","cluster_id":"1.0.0.1"}"#.into(),
    ));
    kvs.push((
        k("global/peer_v4/172.17.42.40"),
        r#"{"ip": "172.17.42.40", "as_num": "65100"}"#.into(),
    ));
    kvs
}

#[test]
fn the_seed_keys_make_the_seed_topology() {
    let (store, rejected) = LegacyStore::from_kvs(P, seed_kvs());
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(store.snapshot(), fixtures::seed());
    assert_eq!(store.snapshot().rules, RuleSet::Legacy);
}

#[test]
fn setting_keys_one_by_one_yields_the_same_topology_as_a_full_read() {
    let mut store = LegacyStore::new(P);
    let mut replay = Topology::default();
    for (key, value) in seed_kvs() {
        let u = store.set(&key, &value);
        assert!(u.rejected.is_empty());
        for c in u.changes {
            replay.apply(c);
        }
    }
    assert_eq!(replay, fixtures::seed());
    assert_eq!(store.snapshot(), fixtures::seed());
}

#[test]
fn each_key_kind_produces_its_change() {
    let mut s = LegacyStore::new(P);
    let mut d = Defaults {
        asn: Some(Asn(64512)),
        ..Defaults::default()
    };
    assert_eq!(
        s.set(k("global/as_num"), "64512").changes,
        vec![TopologyChange::Defaults(d.clone())]
    );
    d.node_mesh = false;
    assert_eq!(
        s.set(k("global/node_mesh"), r#"{"enabled":false}"#).changes,
        vec![TopologyChange::Defaults(d.clone())]
    );
    assert_eq!(
        s.set(
            k("global/peer_v6/fd00::40"),
            r#"{"ip":"fd00::40","as_num":"65100"}"#
        )
        .changes,
        vec![TopologyChange::UpsertPeer(PeerRule::legacy_global(
            ip("fd00::40"),
            Some(Asn(65100))
        ))]
    );
    assert_eq!(
        s.set(k("host/n1/ip_addr_v4"), "198.51.100.1").changes,
        vec![TopologyChange::UpsertNode(node("n1", "198.51.100.1"))]
    );
    let mut n1 = node("n1", "198.51.100.1");
    n1.ipv6 = "2001:db8::1".parse().ok();
    assert_eq!(
        s.set(k("host/n1/ip_addr_v6"), "2001:db8::1").changes,
        vec![TopologyChange::UpsertNode(n1.clone())]
    );
    n1.asn = Some(Asn(65001));
    assert_eq!(
        s.set(k("host/n1/as_num"), "65001").changes,
        vec![TopologyChange::UpsertNode(n1.clone())]
    );
    assert_eq!(
        s.set(
            k("host/n1/peer_v4/198.51.100.11"),
            r#"{"ip":"198.51.100.11","as_num":"64511"}"#
        )
        .changes,
        vec![TopologyChange::UpsertPeer(PeerRule::legacy_node(
            "n1",
            ip("198.51.100.11"),
            Some(Asn(64511))
        ))]
    );
    assert_eq!(
        s.set(
            k("host/n1/peer_v6/2001:db8::11"),
            r#"{"ip":"2001:db8::11","as_num":"64511"}"#
        )
        .changes
        .len(),
        1
    );
    assert_eq!(
        s.set(
            k("rr_v6/2001:db8::11"),
            r#"{"ip":"2001:db8::11","cluster_id":""}"#
        )
        .changes,
        vec![TopologyChange::UpsertRouteReflector(RouteReflector {
            ip: ip("2001:db8::11"),
            cluster_id: None,
            asn: None,
        })]
    );
    // Writing the same value again changes nothing.
    assert!(s.set(k("host/n1/as_num"), "65001").changes.is_empty());
    // Deleting one field re-decodes the node; deleting the last removes it.
    n1.asn = None;
    assert_eq!(
        s.delete(k("host/n1/as_num")).changes,
        vec![TopologyChange::UpsertNode(n1)]
    );
    s.delete(k("host/n1/ip_addr_v6"));
    assert_eq!(
        s.delete(k("host/n1/ip_addr_v4")).changes,
        vec![TopologyChange::RemoveNode("n1".into())]
    );
    assert_eq!(
        s.delete(k("global/node_mesh")).changes,
        vec![TopologyChange::Defaults(Defaults {
            asn: Some(Asn(64512)),
            ..Defaults::default()
        })]
    );
    assert_eq!(
        s.delete(k("rr_v6/2001:db8::11")).changes,
        vec![TopologyChange::RemoveRouteReflector(ip("2001:db8::11"))]
    );
    assert_eq!(s.rejected_total(), 0);
}

#[test]
fn a_node_with_only_peer_records_is_not_a_node() {
    let mut s = LegacyStore::new(P);
    s.set(
        k("host/n1/peer_v4/198.51.100.11"),
        r#"{"ip":"198.51.100.11","as_num":"64511"}"#,
    );
    assert!(s.topology().nodes.is_empty());
    assert_eq!(s.topology().peers.len(), 1);
}

#[test]
fn each_kind_of_bad_value_is_rejected_with_its_full_key_and_counted() {
    let cases = [
        ("global/as_num", "abc"),
        ("global/node_mesh", "yes"),
        (
            "global/peer_v4/172.17.42.40",
            r#"{"ip":"172.17.42.40","as_num":"abc"}"#,
        ),
        (
            "global/peer_v4/172.17.42.40",
            r#"{"ip":"172.17.42.41","as_num":"1"}"#,
        ),
        ("global/peer_v4/172.17.42.40", "{not json"),
        ("host/n1/ip_addr_v4", "172.17.42.300"),
        ("host/n1/ip_addr_v6", "172.17.42.3"),
        ("host/n1/as_num", "-1"),
        ("host/n1/peer_v6/fd00::1", r#"{"ip":"fd00::2"}"#),
        (
            "rr_v4/172.17.42.40",
            r#"{"ip":"172.17.42.40","cluster_id":"x"}"#,
        ),
        ("rr_v4/300.0.0.1", r#"{"ip":"300.0.0.1","cluster_id":""}"#),
        ("rr_v4/fd00::1", r#"{"ip":"fd00::1","cluster_id":""}"#),
        ("global/bogus", "1"),
        ("host/n1/what", "1"),
    ];
    let mut s = LegacyStore::new(P);
    for (n, (rel, value)) in cases.iter().enumerate() {
        let u = s.set(k(rel), value);
        assert!(u.changes.is_empty(), "{rel}={value}: {:?}", u.changes);
        assert_eq!(u.rejected.len(), 1, "{rel}={value}");
        assert_eq!(u.rejected[0].key, k(rel));
        assert!(
            u.rejected[0].to_string().starts_with(&k(rel)),
            "{}",
            u.rejected[0]
        );
        assert_eq!(s.rejected_total(), n as u64 + 1);
    }
    assert_eq!(s.snapshot(), LegacyStore::new(P).snapshot());
    let u = s.set("/elsewhere/key", "1");
    assert_eq!(u.rejected[0].reason, RejectReason::OutsideLayout);
    let u = s.set(k("host/n1/as_num"), b"\xff\xfe".as_slice());
    assert_eq!(u.rejected[0].reason, RejectReason::NotUtf8);
}

#[test]
fn a_bad_value_leaves_the_entity_at_its_last_good_value() {
    let (mut s, _) = LegacyStore::from_kvs(P, seed_kvs());
    let u = s.set(
        k("rr_v4/172.17.42.40"),
        r#"{"ip":"172.17.42.40","cluster_id":"not-an-id"}"#,
    );
    assert_eq!(u.rejected.len(), 1);
    assert!(u.changes.is_empty());
    let u = s.set(k("host/kube-node1/ip_addr_v4"), "nonsense");
    assert_eq!(u.rejected.len(), 1);
    assert_eq!(s.snapshot(), fixtures::seed());
    assert_eq!(s.bad_keys().count(), 2);
    // Other fields of the same node still update.
    let u = s.set(k("host/kube-node1/as_num"), "65001");
    assert_eq!(u.changes.len(), 1);
    assert_eq!(
        s.topology().nodes["kube-node1"].ipv4,
        "172.17.42.31".parse().ok()
    );
    // A good value clears the bad mark.
    s.set(k("host/kube-node1/ip_addr_v4"), "172.17.42.35");
    assert_eq!(s.bad_keys().count(), 1);
}

#[test]
fn a_re_read_keeps_last_good_values_for_keys_that_went_bad() {
    let (mut s, _) = LegacyStore::from_kvs(P, seed_kvs());
    let mut kvs = seed_kvs();
    for (key, value) in kvs.iter_mut() {
        if key.ends_with("rr_v4/172.17.42.40") {
            *value = "garbage".into();
        }
    }
    kvs.push((k("host/kube-node3/ip_addr_v4"), "172.17.42.33".into()));
    kvs.retain(|(key, _)| !key.contains("kube-master"));
    let u = s.replace_all(kvs);
    assert_eq!(u.rejected.len(), 1);
    assert_eq!(u.rejected[0].key, k("rr_v4/172.17.42.40"));
    let mut want = fixtures::seed();
    want.nodes.remove("kube-master");
    want.nodes
        .insert("kube-node3".into(), node("kube-node3", "172.17.42.33"));
    assert_eq!(s.snapshot(), want);
    assert_eq!(
        u.changes,
        vec![
            TopologyChange::UpsertNode(node("kube-node3", "172.17.42.33")),
            TopologyChange::RemoveNode("kube-master".into()),
        ]
    );
    // Re-reading the same bad value does not report it again.
    let again: Vec<_> = s
        .bad_keys()
        .map(|(k, _)| (k.to_owned(), "garbage".to_owned()))
        .collect();
    let mut kvs = seed_kvs();
    kvs.retain(|(key, _)| !key.contains("kube-master") && !key.contains("rr_v4"));
    kvs.push((k("host/kube-node3/ip_addr_v4"), "172.17.42.33".into()));
    kvs.extend(again);
    let u = s.replace_all(kvs);
    assert!(u.rejected.is_empty() && u.changes.is_empty(), "{u:?}");
    assert_eq!(s.rejected_total(), 1);
    // A fresh store has no last good value: the bad RR is skipped.
    let (fresh, _) = LegacyStore::from_kvs(P, [(k("rr_v4/172.17.42.40"), "garbage".to_owned())]);
    assert!(fresh.topology().route_reflectors.is_empty());
}

#[test]
fn deleting_a_directory_removes_everything_below_it() {
    let (mut s, _) = LegacyStore::from_kvs(P, seed_kvs());
    s.set(
        k("host/kube-node1/peer_v4/172.17.42.41"),
        r#"{"ip":"172.17.42.41","as_num":"65100"}"#,
    );
    let u = s.delete_tree(k("host/kube-node1"));
    assert_eq!(
        u.changes,
        vec![
            TopologyChange::RemoveNode("kube-node1".into()),
            TopologyChange::RemovePeer("host/kube-node1/peer_v4/172.17.42.41".into()),
        ]
    );
    let u = s.delete_tree(k("rr_v4/"));
    assert_eq!(
        u.changes,
        vec![TopologyChange::RemoveRouteReflector(ip("172.17.42.40"))]
    );
    s.delete_tree(P);
    assert_eq!(s.snapshot(), LegacyStore::new(P).snapshot());
}

#[test]
fn ignored_and_foreign_prefixes_do_not_leak_into_the_topology() {
    let mut s = LegacyStore::new("calico/bgp/v1/");
    assert!(s
        .set("calico/bgp/v1/global/loglevel", "debug")
        .rejected
        .is_empty());
    assert_eq!(
        s.set("calico/bgp/v1x/rr_v4/10.0.0.1", "{}").rejected.len(),
        1
    );
    let u = s.set(
        "calico/bgp/v1/rr_v4/10.0.0.1",
        r#"{"ip":"10.0.0.1","cluster_id":16777217}"#,
    );
    assert_eq!(
        u.changes,
        vec![TopologyChange::UpsertRouteReflector(RouteReflector {
            ip: ip("10.0.0.1"),
            cluster_id: Some(ClusterId(16_777_217)),
            asn: None,
        })]
    );
}

#[test]
fn a_rejected_key_is_resolved_when_deleted_fixed_or_gone_from_a_re_read() {
    let (mut store, _) = LegacyStore::from_kvs(P, seed_kvs());
    let bad = k("host/kube-node1/ip_addr_v4");
    let update = store.set(&bad, "not-an-ip");
    assert_eq!(update.rejected.len(), 1);
    assert!(update.resolved.is_empty());
    // Deleted: resolved once.
    assert_eq!(store.delete(&bad).resolved, vec![bad.clone()]);
    assert!(store.delete(&bad).resolved.is_empty());
    // Fixed: resolved.
    store.set(&bad, "not-an-ip");
    assert_eq!(store.set(&bad, "172.17.42.31").resolved, vec![bad.clone()]);
    // Gone from a complete re-read: resolved.
    store.set(&bad, "not-an-ip");
    let kvs: Vec<_> = seed_kvs()
        .into_iter()
        .filter(|(key, _)| *key != bad)
        .collect();
    assert_eq!(store.replace_all(kvs).resolved, vec![bad.clone()]);
    // Below a deleted directory: resolved.
    store.set(&bad, "not-an-ip");
    assert_eq!(
        store.delete_tree(k("host/kube-node1")).resolved,
        vec![bad.clone()]
    );
    assert_eq!(store.bad_keys().count(), 0);
}
