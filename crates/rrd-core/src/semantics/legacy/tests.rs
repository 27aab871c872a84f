use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::model::{Node, PeerRule, RouteReflector, Ttl};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn node(name: &str, v4: &str) -> Node {
    Node {
        ipv4: Some(v4.parse().unwrap()),
        ..Node::new(name)
    }
}

/// The seed's blog post: three nodes, one RR registered with cluster id
/// 1.0.0.1 and added as a global peer in AS 65100.
pub(crate) fn seed_topology() -> Topology {
    let mut t = Topology::default();
    for (name, addr) in [
        ("kube-master", "172.17.42.30"),
        ("kube-node1", "172.17.42.31"),
        ("kube-node2", "172.17.42.32"),
    ] {
        t.nodes.insert(name.into(), node(name, addr));
    }
    let rr = RouteReflector {
        ip: ip("172.17.42.40"),
        cluster_id: Some("1.0.0.1".parse().unwrap()),
        asn: None,
    };
    t.route_reflectors.insert(rr.ip, rr);
    let peer = PeerRule::legacy_global(ip("172.17.42.40"), Some(Asn(65100)));
    t.peers.insert(peer.name.clone(), peer);
    t
}

fn me(addr: &str) -> RrIdentity {
    RrIdentity::v4(addr.parse::<Ipv4Addr>().unwrap())
}

#[test]
fn seed_rr_gets_three_global_client_sessions_with_cluster_id() {
    let out = compute(&seed_topology(), &me("172.17.42.40")).unwrap();
    let names: Vec<_> = out.config.neighbors.keys().map(|k| k.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "Global_172_17_42_30",
            "Global_172_17_42_31",
            "Global_172_17_42_32"
        ]
    );
    for n in out.config.neighbors.values() {
        assert_eq!(n.remote_as, Asn(65100));
        assert_eq!(n.local_as, Asn(65100));
        assert_eq!(
            n.role,
            Role::RrClient {
                cluster_id: Some("1.0.0.1".parse().unwrap())
            }
        );
        assert_eq!(n.source_address, Some(ip("172.17.42.40")));
        assert!(n.graceful_restart.enabled);
        assert_eq!(n.ttl, Ttl::Multihop(None));
    }
    assert_eq!(out.config.router.router_id.to_string(), "172.17.42.40");
    assert!(out.diagnostics.is_empty());
}

#[test]
fn unregistered_rr_is_standalone_and_carries_no_cluster_id() {
    let mut t = seed_topology();
    t.route_reflectors.clear();
    let out = compute(&t, &me("172.17.42.40")).unwrap();
    assert_eq!(out.config.neighbors.len(), 3);
    assert!(out
        .config
        .neighbors
        .values()
        .all(|n| n.role == Role::RrClient { cluster_id: None }));
}

#[test]
fn node_that_is_global_and_node_specific_client_gets_one_global_session() {
    let mut t = seed_topology();
    let p = PeerRule::legacy_node("kube-node1", ip("172.17.42.40"), Some(Asn(65100)));
    t.peers.insert(p.name.clone(), p);
    let out = compute(&t, &me("172.17.42.40")).unwrap();
    assert_eq!(out.config.neighbors.len(), 3);
    assert!(out
        .config
        .neighbors
        .keys()
        .all(|k| k.0.starts_with("Global_")));
    assert!(out.diagnostics.is_empty());
}

#[test]
fn node_without_address_is_skipped_with_a_diagnostic() {
    let mut t = seed_topology();
    t.nodes.insert("empty".into(), Node::new("empty"));
    let out = compute(&t, &me("172.17.42.40")).unwrap();
    assert_eq!(out.config.neighbors.len(), 3);
    assert_eq!(out.diagnostics.len(), 1);
    assert!(out.diagnostics[0].subject.contains("empty"));
}

#[test]
fn rr_never_peers_with_itself() {
    let mut t = seed_topology();
    t.nodes
        .insert("rr-host".into(), node("rr-host", "172.17.42.40"));
    let out = compute(&t, &me("172.17.42.40")).unwrap();
    assert!(!out
        .config
        .neighbors
        .keys()
        .any(|k| k.0.contains("172_17_42_40")));
}

/// The seed's rack model: N1..N9, RR1..RR6, three racks, one cluster id per
/// rack pair, all RRs meshed, node-specific peerings per rack.
pub(crate) fn rack_topology() -> Topology {
    let mut t = Topology::default();
    t.defaults.asn = Some(Asn(64511));
    t.defaults.node_mesh = false;
    for i in 1..=6u8 {
        let rack = (i - 1) / 2 + 1;
        let rr = RouteReflector {
            ip: ip(&format!("198.51.100.{}", 10 + i)),
            cluster_id: Some(format!("1.0.0.{rack}").parse().unwrap()),
            asn: None,
        };
        t.route_reflectors.insert(rr.ip, rr);
    }
    for n in 1..=9u8 {
        let name = format!("N{n}");
        t.nodes.insert(
            name.clone(),
            node(&name, &format!("198.51.100.{}", 100 + n)),
        );
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
fn rack_model_meshes_all_rrs_as_non_clients_and_serves_its_rack() {
    let out = compute(&rack_topology(), &me("198.51.100.13")).unwrap(); // RR3, rack 2
    let mesh: Vec<_> = out
        .config
        .neighbors
        .iter()
        .filter(|(_, n)| n.kind == SessionKind::Mesh)
        .collect();
    assert_eq!(mesh.len(), 5);
    assert!(mesh
        .iter()
        .all(|(_, n)| n.role == Role::NonClient && n.remote_as == Asn(64511)));
    let clients: Vec<_> = out
        .config
        .neighbors
        .iter()
        .filter(|(_, n)| n.role.is_client())
        .map(|(k, _)| k.0.clone())
        .collect();
    assert_eq!(
        clients,
        [
            "Node_198_51_100_104",
            "Node_198_51_100_105",
            "Node_198_51_100_106"
        ]
    );
    assert!(out
        .config
        .neighbors
        .values()
        .filter(|n| n.role.is_client())
        .all(|n| n.role.cluster_id() == Some("1.0.0.2".parse().unwrap())));
}

#[test]
fn ipv6_sessions_use_ip6_and_colon_free_names() {
    let mut t = Topology::default();
    let mut n = node("n1", "198.51.100.1");
    n.ipv6 = Some("2001:db8::1".parse().unwrap());
    t.nodes.insert("n1".into(), n);
    for rr in ["2001:db8::10", "2001:db8::11"] {
        let r = RouteReflector {
            ip: ip(rr),
            cluster_id: None,
            asn: None,
        };
        t.route_reflectors.insert(r.ip, r);
    }
    let p = PeerRule::legacy_node("n1", ip("2001:db8::10"), Some(Asn(64511)));
    t.peers.insert(p.name.clone(), p);
    let me = RrIdentity {
        ipv4: Some("198.51.100.10".parse().unwrap()),
        ipv6: Some("2001:db8::10".parse().unwrap()),
        ..RrIdentity::default()
    };
    let out = compute(&t, &me).unwrap();
    let names: Vec<_> = out.config.neighbors.keys().map(|k| k.0.as_str()).collect();
    assert_eq!(names, ["Mesh_2001_db8__11", "Node_2001_db8__1"]);
    assert!(out
        .config
        .neighbors
        .values()
        .all(|n| n.source_address == Some(ip("2001:db8::10"))));
}

#[test]
fn missing_identity_is_an_error() {
    assert_eq!(
        compute(&seed_topology(), &RrIdentity::default()),
        Err(SemanticsError::MissingIdentity)
    );
}
