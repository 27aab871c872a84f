//! The incremental path must always agree with a full computation: random
//! change sequences over a small universe where addresses collide on
//! purpose (two nodes on one address, a node on an RR's or on this RR's
//! address), both rule sets.

use std::collections::BTreeMap;
use std::net::IpAddr;

use proptest::prelude::*;

use super::*;
use crate::model::{
    Asn, Defaults, Node, NodeSelector, PeerMatch, PeerRule, RouteReflector, RuleSet,
};
use crate::semantics::compute;

const V4: [&str; 5] = ["10.0.0.1", "10.0.1.1", "10.0.1.2", "10.0.0.2", "10.0.1.3"];
const V6: [&str; 3] = ["fd00::1", "fd00::2", "fd00::3"];
const NAMES: [&str; 6] = ["n0", "n1", "n2", "n3", "n4", "n5"];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn me(v3_name: bool) -> RrIdentity {
    RrIdentity {
        ipv4: Some("10.0.0.1".parse().unwrap()),
        ipv6: Some("fd00::1".parse().unwrap()),
        router_id: None,
        node_name: v3_name.then(|| "n0".to_owned()),
    }
}

fn node() -> impl Strategy<Value = Node> {
    (
        0..NAMES.len(),
        proptest::option::of(0..V4.len()),
        proptest::option::of(0..V6.len()),
        proptest::option::of(64512u32..64514),
        proptest::option::of(prop_oneof![Just("a"), Just("b")]),
        any::<bool>(),
        proptest::option::of(1u32..3),
    )
        .prop_map(|(n, v4, v6, asn, rack, rr, cluster)| {
            let mut node = Node::new(NAMES[n]);
            node.ipv4 = v4.map(|i| V4[i].parse().unwrap());
            node.ipv6 = v6.map(|i| V6[i].parse().unwrap());
            node.asn = asn.map(Asn);
            if let Some(r) = rack {
                node.labels.insert("rack", r);
            }
            if rr {
                node.labels.insert("rr", "true");
            }
            node.rr_cluster_id = cluster.map(crate::model::ClusterId);
            node
        })
}

fn legacy_rule() -> impl Strategy<Value = PeerRule> {
    let peer = prop_oneof![Just("10.0.0.1"), Just("fd00::1"), Just("10.0.0.2")];
    prop_oneof![
        (peer.clone(), proptest::option::of(64512u32..64514))
            .prop_map(|(p, a)| PeerRule::legacy_global(ip(p), a.map(Asn))),
        (0..NAMES.len(), peer, proptest::option::of(64512u32..64514))
            .prop_map(|(n, p, a)| PeerRule::legacy_node(NAMES[n], ip(p), a.map(Asn))),
    ]
}

fn v3_rule() -> impl Strategy<Value = PeerRule> {
    let nodes = prop_oneof![
        Just(NodeSelector::All),
        Just(NodeSelector::Selector("rack == 'a'".into())),
        Just(NodeSelector::Selector("has(rr)".into())),
        (0..NAMES.len()).prop_map(|n| NodeSelector::Named(NAMES[n].into())),
    ];
    let peer = prop_oneof![
        Just(PeerMatch::Selector("has(rr)".into())),
        Just(PeerMatch::Selector("rack == 'b'".into())),
        (0..V4.len()).prop_map(|i| PeerMatch::Ip {
            addr: ip(V4[i]),
            port: None
        }),
    ];
    (
        0..4usize,
        nodes,
        peer,
        proptest::option::of(64512u32..64514),
    )
        .prop_map(|(i, nodes, peer, asn)| {
            let asn = match peer {
                PeerMatch::Selector(_) => None,
                PeerMatch::Ip { .. } => asn.map(Asn),
            };
            PeerRule::new(format!("rule-{i}"), nodes, peer, asn)
        })
}

fn change(rules: RuleSet) -> impl Strategy<Value = TopologyChange> {
    let rule = if rules == RuleSet::Legacy {
        legacy_rule().boxed()
    } else {
        v3_rule().boxed()
    };
    let rr = (0..V4.len(), proptest::option::of(1u32..3)).prop_map(|(i, c)| RouteReflector {
        ip: ip(V4[i]),
        cluster_id: c.map(crate::model::ClusterId),
        asn: None,
    });
    prop_oneof![
        4 => node().prop_map(TopologyChange::UpsertNode),
        2 => (0..NAMES.len()).prop_map(|n| TopologyChange::RemoveNode(NAMES[n].into())),
        3 => rule.clone().prop_map(TopologyChange::UpsertPeer),
        1 => rule.prop_map(|r| TopologyChange::RemovePeer(r.name)),
        1 => rr.prop_map(TopologyChange::UpsertRouteReflector),
        1 => (0..V4.len()).prop_map(|i| TopologyChange::RemoveRouteReflector(ip(V4[i]))),
        1 => (any::<bool>(), proptest::option::of(64512u32..64514)).prop_map(|(mesh, asn)| {
            TopologyChange::Defaults(Defaults {
                node_mesh: mesh,
                asn: asn.map(Asn),
                ..Defaults::default()
            })
        }),
    ]
}

fn check(rules: RuleSet, identity: RrIdentity, batches: Vec<Vec<TopologyChange>>) {
    let mut full = Topology {
        rules,
        ..Topology::default()
    };
    let mut desired = DesiredState::new(identity.clone(), full.clone());
    for batch in batches {
        let before: Option<BTreeMap<PeerKey, crate::model::Neighbor>> =
            desired.config().ok().map(|c| c.neighbors.clone());
        for c in batch.clone() {
            full.apply(c);
        }
        let touched = desired.apply(batch);
        let want = compute(&full, &identity);
        match (&want, desired.config()) {
            (Ok(w), Ok(got)) => {
                assert_eq!(&w.config, got, "topology {full:#?}");
                assert_eq!(w.diagnostics, desired.diagnostics(), "topology {full:#?}");
                if let (Some(before), Touched::Sessions(keys)) = (&before, &touched) {
                    for (k, n) in &got.neighbors {
                        if before.get(k) != Some(n) {
                            assert!(keys.contains(k), "{k} changed but was not reported");
                        }
                    }
                    for k in before.keys() {
                        if !got.neighbors.contains_key(k) {
                            assert!(keys.contains(k), "{k} removed but was not reported");
                        }
                    }
                }
                if touched == Touched::Nothing {
                    assert_eq!(before.as_ref(), Some(&got.neighbors));
                }
            }
            (Err(w), Err(got)) => assert_eq!(w, got),
            (w, got) => panic!("full {w:?} vs incremental {got:?}"),
        }
        // The warnings read from the index are those of a walk over the
        // whole topology.
        if let Ok(config) = desired.config() {
            assert_eq!(
                desired.this_rr_warnings(),
                crate::check::this_rr_warnings(desired.topology(), &identity, config),
                "topology {full:#?}"
            );
        }
        // The periodic resync's check finds nothing to repair.
        assert_eq!(desired.verify(), Ok(()), "topology {full:#?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn legacy_changes_give_what_a_full_computation_gives(
        batches in proptest::collection::vec(proptest::collection::vec(change(RuleSet::Legacy), 1..4), 1..25)
    ) {
        check(RuleSet::Legacy, me(false), batches);
    }

    #[test]
    fn calico_v3_changes_give_what_a_full_computation_gives(
        batches in proptest::collection::vec(proptest::collection::vec(change(RuleSet::CalicoV3), 1..4), 1..25),
        by_name in any::<bool>(),
    ) {
        check(RuleSet::CalicoV3, me(by_name), batches);
    }
}

/// Three racks: RRs 198.51.100.11..16 in pairs, nodes N1..N9 at
/// 198.51.100.101..109, three per rack, each peering with its rack's pair.
fn racks() -> Topology {
    let mut t = Topology::default();
    for i in 1..=6u8 {
        let rr = RouteReflector {
            ip: ip(&format!("198.51.100.{}", 10 + i)),
            cluster_id: Some(crate::model::ClusterId(u32::from((i - 1) / 2 + 1))),
            asn: None,
        };
        t.route_reflectors.insert(rr.ip, rr);
    }
    for n in 1..=9u8 {
        let name = format!("N{n}");
        let mut node = Node::new(&name);
        node.ipv4 = format!("198.51.100.{}", 100 + n).parse().ok();
        t.nodes.insert(name.clone(), node);
        let rack = (n - 1) / 3;
        for rr in [2 * rack + 1, 2 * rack + 2] {
            let p = PeerRule::legacy_node(
                &name,
                ip(&format!("198.51.100.{}", 10 + rr)),
                Some(Asn(64511)),
            );
            t.peers.insert(p.name.clone(), p);
        }
    }
    t
}

#[test]
fn a_node_of_another_rr_touches_nothing() {
    let t = racks();
    let me = RrIdentity::v4("198.51.100.11".parse().unwrap());
    let mut d = DesiredState::new(me, t);
    let mut n = Node::new("N9");
    n.ipv4 = "198.51.100.209".parse().ok();
    assert_eq!(d.apply([TopologyChange::UpsertNode(n)]), Touched::Nothing);
}

#[test]
fn a_new_client_touches_its_one_session() {
    let t = racks();
    let me = RrIdentity::v4("198.51.100.11".parse().unwrap());
    let mut d = DesiredState::new(me, t);
    let mut n = Node::new("N10");
    n.ipv4 = "198.51.100.110".parse().ok();
    let rule = PeerRule::legacy_node("N10", ip("198.51.100.11"), Some(Asn(64511)));
    let touched = d.apply([
        TopologyChange::UpsertNode(n),
        TopologyChange::UpsertPeer(rule),
    ]);
    assert_eq!(
        touched,
        Touched::Sessions([PeerKey("Node_198_51_100_110".into())].into())
    );
}

#[test]
fn records_of_other_rrs_are_not_kept() {
    let t = racks();
    let all = t.peers.len();
    let d = DesiredState::new(RrIdentity::v4("198.51.100.11".parse().unwrap()), t);
    assert!(d.topology().peers.len() < all);
    assert!(d
        .topology()
        .peers
        .values()
        .all(|r| matches!(r.peer, PeerMatch::Ip { addr, .. } if addr == ip("198.51.100.11"))));
}

#[test]
fn the_resync_check_repairs_a_session_the_changes_got_wrong() {
    let me = RrIdentity::v4("198.51.100.11".parse().unwrap());
    let mut d = DesiredState::new(me, racks());
    assert_eq!(d.verify(), Ok(()));
    // As if an incremental update had lost one session and kept a stale
    // one: the check names both and the full computation stands again.
    let right = d.config().unwrap().clone();
    let lost = PeerKey("Node_198_51_100_101".into());
    let current = d.current.as_mut().unwrap();
    let mut stale = current.config.neighbors.remove(&lost).unwrap();
    let ghost = PeerKey("Node_198_51_100_199".into());
    stale.address = ip("198.51.100.199");
    current.config.neighbors.insert(ghost.clone(), stale);
    assert_eq!(d.verify(), Err(Touched::Sessions([lost, ghost].into())));
    assert_eq!(d.config().unwrap(), &right);
    assert_eq!(d.verify(), Ok(()));
}
