//! Topology-wide safety checks behind `rrd check`.
//!
//! The one that matters most: RFC 4456 drops a reflected route whose
//! CLUSTER_LIST already holds the receiver's cluster id. RRs that share a
//! cluster id but serve different client sets therefore silently block
//! routes between their clients (Calico issue 2735). Computing every RR's
//! sessions with the same pure function the daemon uses finds them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::model::{ClusterId, RrIdentity, RuleSet, Topology};
use crate::semantics::{compute, Diagnostic};

/// Every registered RR of the topology, as an identity `compute` accepts.
pub fn route_reflector_identities(topology: &Topology) -> Vec<(String, RrIdentity)> {
    match topology.rules {
        RuleSet::Legacy => topology
            .route_reflectors
            .values()
            .map(|rr| {
                let identity = match rr.ip {
                    IpAddr::V4(v4) => RrIdentity::v4(v4),
                    IpAddr::V6(v6) => RrIdentity {
                        ipv6: Some(v6),
                        ..RrIdentity::default()
                    },
                };
                (format!("RR {}", rr.ip), identity)
            })
            .collect(),
        RuleSet::CalicoV3 => topology
            .nodes
            .values()
            .filter(|n| n.rr_cluster_id.is_some())
            .map(|n| {
                let identity = RrIdentity {
                    ipv4: n.ipv4,
                    ipv6: n.ipv6,
                    router_id: None,
                    node_name: Some(n.name.clone()),
                };
                (format!("RR node {}", n.name), identity)
            })
            .collect(),
    }
}

/// Warn about cluster ids shared by RRs whose client sets differ.
pub fn shared_cluster_ids(topology: &Topology) -> Vec<Diagnostic> {
    let mut by_cluster: BTreeMap<ClusterId, Vec<(String, BTreeSet<IpAddr>)>> = BTreeMap::new();
    for (label, identity) in route_reflector_identities(topology) {
        let Ok(computed) = compute(topology, &identity) else {
            continue;
        };
        let mut clients = BTreeSet::new();
        let mut cluster = None;
        for n in computed.config.neighbors.values() {
            if let Some(id) = n.role.cluster_id() {
                cluster = Some(id);
                clients.insert(n.address);
            }
        }
        if let Some(id) = cluster.or(computed.config.router.cluster_id) {
            by_cluster.entry(id).or_default().push((label, clients));
        }
    }
    let mut out = Vec::new();
    for (id, members) in by_cluster {
        let Some((first_label, first)) = members.first() else {
            continue;
        };
        for (label, clients) in &members[1..] {
            if clients != first {
                let only_first = first.difference(clients).count();
                let only_other = clients.difference(first).count();
                out.push(Diagnostic::new(
                    format!("cluster id {id}"),
                    format!(
                        "shared by {first_label} and {label}, which serve different clients \
                         ({only_first} only on the first, {only_other} only on the second): \
                         RFC 4456 loop detection will drop routes between them (Calico issue 2735); \
                         give them different cluster ids or the same clients"
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semantics::legacy::tests::rack_topology;

    #[test]
    fn rack_model_with_consistent_pairs_is_clean() {
        assert!(shared_cluster_ids(&rack_topology()).is_empty());
    }

    #[test]
    fn seed_typo_pairing_rr2_with_rr3_is_reported() {
        // The seed's own text pairs "RR2 and RR3" by mistake: RR3 taking
        // rack 1's cluster id while serving rack 2 is exactly the bug.
        let mut t = rack_topology();
        let rr3: IpAddr = "198.51.100.13".parse().unwrap();
        t.route_reflectors.get_mut(&rr3).unwrap().cluster_id = Some("1.0.0.1".parse().unwrap());
        let warnings = shared_cluster_ids(&t);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].message.contains("198.51.100.13"));
    }
}
