//! Topology-wide safety checks behind `rrd check`.
//!
//! The one that matters most: RFC 4456 drops a reflected route whose
//! CLUSTER_LIST already holds the receiver's cluster id. RRs that share a
//! cluster id but serve different client sets therefore silently block
//! routes between their clients (Calico issue 2735). Computing every RR's
//! sessions with the same pure function the daemon uses finds them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::model::{ClusterId, RrConfig, RrIdentity, RuleSet, Topology};
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

/// What makes an RR's configuration suspicious even though it computed:
/// `rrd render`, `rrd check` and `rrd run` say these out loud, because a
/// daemon with no sessions looks exactly like one whose datastore was
/// misread (wrong API, wrong prefix, wrong address).
pub fn this_rr_warnings(
    topology: &Topology,
    me: &RrIdentity,
    config: &RrConfig,
) -> Vec<Diagnostic> {
    rr_warnings(topology, me, config, || is_registered(topology, me))
}

/// [`this_rr_warnings`], told whether `me` is registered by `registered`
/// (asked only when the topology holds anything): [`crate::DesiredState`]
/// answers from its index instead of walking every node.
pub(crate) fn rr_warnings(
    topology: &Topology,
    me: &RrIdentity,
    config: &RrConfig,
    registered: impl FnOnce() -> bool,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let who = me
        .node_name
        .clone()
        .or_else(|| me.ipv4.map(|ip| ip.to_string()))
        .or_else(|| me.ipv6.map(|ip| ip.to_string()))
        .unwrap_or_else(|| "this RR".into());
    if topology.route_reflectors.is_empty()
        && topology.nodes.is_empty()
        && topology.peers.is_empty()
        && topology.node_configs.is_empty()
    {
        out.push(Diagnostic::new(
            "datastore",
            "holds no topology at all (no node, route reflector or peer under the source's \
             prefix): check the source's API, prefix and layout",
        ));
        return out;
    }
    if !registered() {
        let how = match topology.rules {
            RuleSet::Legacy => "no rr_v4/<ip> or rr_v6/<ip> key; register it with `rrd rr add`",
            RuleSet::CalicoV3 => "its node has no routeReflectorClusterID",
        };
        out.push(Diagnostic::new(
            format!("RR {who}"),
            format!(
                "not registered as a route reflector ({how}): it runs standalone, without a \
                 cluster id and without the RR mesh"
            ),
        ));
    }
    if !config.neighbors.values().any(|n| n.role.is_client()) {
        let how = match topology.rules {
            RuleSet::Legacy => {
                "no global/peer_v4/<ip> record and no host/<node>/peer_v4/<ip> names it"
            }
            RuleSet::CalicoV3 => "no BGPPeer makes a node peer with it",
        };
        out.push(Diagnostic::new(
            format!("RR {who}"),
            format!("has no client sessions ({how})"),
        ));
    }
    out
}

/// Whether `me` is a registered RR of `topology`.
fn is_registered(topology: &Topology, me: &RrIdentity) -> bool {
    match topology.rules {
        RuleSet::Legacy => [me.ipv4.map(IpAddr::V4), me.ipv6.map(IpAddr::V6)]
            .into_iter()
            .flatten()
            .any(|ip| topology.route_reflectors.contains_key(&ip)),
        RuleSet::CalicoV3 => topology.nodes.values().any(|n| {
            let is_me = match &me.node_name {
                Some(name) => &n.name == name,
                None => {
                    (me.ipv4.is_some() && n.ipv4 == me.ipv4)
                        || (me.ipv6.is_some() && n.ipv6 == me.ipv6)
                }
            };
            is_me && n.rr_cluster_id.is_some()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semantics::legacy::tests::rack_topology;

    fn warnings_for(topology: &Topology, ip: &str) -> Vec<Diagnostic> {
        let me = RrIdentity::v4(ip.parse().unwrap());
        let computed = compute(topology, &me).unwrap();
        this_rr_warnings(topology, &me, &computed.config)
    }

    #[test]
    fn a_registered_rr_with_clients_gets_no_warning() {
        let t = rack_topology();
        let rr = t.route_reflectors.keys().next().unwrap().to_string();
        assert_eq!(warnings_for(&t, &rr), vec![]);
    }

    #[test]
    fn an_empty_datastore_is_said_once() {
        let w = warnings_for(&Topology::default(), "198.51.100.10");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].message.contains("no topology"), "{w:?}");
    }

    #[test]
    fn an_unregistered_rr_without_clients_gets_both_warnings() {
        let w = warnings_for(&rack_topology(), "198.51.100.99");
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].message.contains("not registered"), "{w:?}");
        assert!(w[1].message.contains("no client sessions"), "{w:?}");
    }

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
