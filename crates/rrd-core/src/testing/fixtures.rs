//! Topologies shared by tests across crates: the seed's blog-post setup and
//! its rack model, with documentation-range addresses where the seed's own
//! addresses are not needed; and a session as a daemon reports it.

use std::net::IpAddr;

use crate::engine::{SessionState, SessionStatus};
use crate::model::{Asn, Node, PeerKey, PeerRule, RouteReflector, Topology};

/// An Established session to 198.51.100.`n` named `Node_198_51_100_<n>`,
/// with no route counts and nothing else known: tests set what they need.
pub fn established_session(n: u8) -> SessionStatus {
    SessionStatus {
        key: PeerKey(format!("Node_198_51_100_{n}")),
        address: IpAddr::from([198, 51, 100, n]),
        remote_as: None,
        state: SessionState::Established,
        since: None,
        info: String::new(),
        routes_received: None,
        routes_sent: None,
        peer_graceful_restart: Default::default(),
        rr_client: None,
        recovery: Default::default(),
        peer_router_id: None,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("fixture address")
}

/// The seed's topology: kube-master 172.17.42.30, kube-node1 .31, kube-node2
/// .32, RR 172.17.42.40 registered with cluster id 1.0.0.1 and added as a
/// global peer in AS 65100.
pub fn seed() -> Topology {
    let mut t = Topology::default();
    for (name, addr) in [
        ("kube-master", "172.17.42.30"),
        ("kube-node1", "172.17.42.31"),
        ("kube-node2", "172.17.42.32"),
    ] {
        let mut n = Node::new(name);
        n.ipv4 = addr.parse().ok();
        t.nodes.insert(name.into(), n);
    }
    let rr = RouteReflector {
        ip: ip("172.17.42.40"),
        cluster_id: Some("1.0.0.1".parse().expect("cluster id")),
        asn: None,
    };
    t.route_reflectors.insert(rr.ip, rr);
    let peer = PeerRule::legacy_global(ip("172.17.42.40"), Some(Asn(65100)));
    t.peers.insert(peer.name.clone(), peer);
    t
}

/// The seed's rack model: nodes N1..N9 at 198.51.100.101..109, RR1..RR6 at
/// 198.51.100.11..16, racks of three nodes served by an RR pair sharing a
/// cluster id (1.0.0.1, 1.0.0.2, 1.0.0.3), all RRs meshed.
pub fn racks() -> Topology {
    let mut t = Topology::default();
    t.defaults.asn = Some(Asn(64511));
    t.defaults.node_mesh = false;
    for i in 1..=6u8 {
        let rack = (i - 1) / 2 + 1;
        let rr = RouteReflector {
            ip: ip(&format!("198.51.100.{}", 10 + i)),
            cluster_id: format!("1.0.0.{rack}").parse().ok(),
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
