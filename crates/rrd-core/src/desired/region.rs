//! Which part of this RR's configuration a change can affect, and the
//! small topology that recomputes exactly that part.
//!
//! Both rule sets decide each neighbor address on its own: a session to
//! address `A` depends only on the candidates at `A` (the RR there, the
//! nodes there and the rules naming them), on this RR itself and on
//! fabric-wide settings. So a change to a node (or, legacy, to a peer
//! record naming a node) is recomputed from a topology holding those
//! candidates, this RR and the rules; everything else is a full
//! recomputation.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::index::{addresses, is_mine, rule_concerns, Index};
use crate::model::{
    NodeSelector, PeerMatch, PeerRule, RrIdentity, RuleSet, Topology, TopologyChange,
};

/// The addresses and nodes a batch of changes touched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Region {
    pub everything: bool,
    pub addrs: BTreeSet<IpAddr>,
    pub names: BTreeSet<String>,
}

impl Region {
    pub fn is_empty(&self) -> bool {
        !self.everything && self.addrs.is_empty() && self.names.is_empty()
    }

    fn node(&mut self, topology: &Topology, name: &str) {
        if let Some(n) = topology.nodes.get(name) {
            self.addrs.extend(addresses(n));
        }
        self.names.insert(name.to_owned());
    }
}

pub(super) fn my_addresses(me: &RrIdentity) -> impl Iterator<Item = IpAddr> {
    [me.ipv4.map(IpAddr::V4), me.ipv6.map(IpAddr::V6)]
        .into_iter()
        .flatten()
}

/// Add what `change` (not yet applied to `topology`) touches to `region`.
pub(super) fn of_change(
    topology: &Topology,
    index: &Index,
    me: &RrIdentity,
    change: &TopologyChange,
    region: &mut Region,
) {
    let legacy = topology.rules == RuleSet::Legacy;
    match change {
        TopologyChange::UpsertNode(n) if topology.nodes.get(&n.name) == Some(n) => {}
        TopologyChange::UpsertNode(n) => {
            node_change(topology, index, me, &n.name, addresses(n).collect(), region);
        }
        TopologyChange::RemoveNode(name) if topology.nodes.contains_key(name) => {
            node_change(topology, index, me, name, Vec::new(), region);
        }
        TopologyChange::RemoveNode(_) => {}
        TopologyChange::UpsertRouteReflector(rr)
            if topology.route_reflectors.get(&rr.ip) == Some(rr) => {}
        TopologyChange::UpsertRouteReflector(rr) if legacy => rr_change(me, rr.ip, region),
        TopologyChange::RemoveRouteReflector(ip) if legacy => {
            if topology.route_reflectors.contains_key(ip) {
                rr_change(me, *ip, region);
            }
        }
        TopologyChange::UpsertPeer(r) if legacy => {
            if topology.peers.get(&r.name) != Some(r) {
                rule_change(topology, me, topology.peers.get(&r.name), region);
                rule_change(topology, me, Some(r), region);
            }
        }
        TopologyChange::RemovePeer(name) if legacy => {
            rule_change(topology, me, topology.peers.get(name), region);
        }
        // Legacy rules read neither per-node BGP settings nor secrets.
        TopologyChange::UpsertNodeConfig(..)
        | TopologyChange::RemoveNodeConfig(_)
        | TopologyChange::UpsertSecret(..)
        | TopologyChange::RemoveSecret(_)
            if legacy => {}
        _ => region.everything = true,
    }
}

fn node_change(
    topology: &Topology,
    index: &Index,
    me: &RrIdentity,
    name: &str,
    new_addrs: Vec<IpAddr>,
    region: &mut Region,
) {
    match topology.rules {
        RuleSet::Legacy => {
            // Only clients (named by a record for this RR, or every node
            // when this RR is a global peer) yield sessions.
            if index.global_rules.is_empty() && !index.node_rules.contains_key(name) {
                return;
            }
        }
        RuleSet::CalicoV3 => {
            // This RR's own node (by name, or at its address) decides
            // everything: who "I" am, my AS, my cluster id, my labels.
            let old_addrs: Vec<IpAddr> = topology
                .nodes
                .get(name)
                .map(|n| addresses(n).collect())
                .unwrap_or_default();
            let mine = me.node_name.as_deref() == Some(name)
                || old_addrs.iter().chain(&new_addrs).any(|a| is_mine(me, *a));
            if mine {
                region.everything = true;
                return;
            }
        }
    }
    region.node(topology, name);
    region.addrs.extend(new_addrs);
}

/// Legacy: a registered RR; this RR's own registration decides its AS and
/// cluster id, any other one is one mesh session.
fn rr_change(me: &RrIdentity, ip: IpAddr, region: &mut Region) {
    if is_mine(me, ip) {
        region.everything = true;
    } else {
        region.addrs.insert(ip);
    }
}

/// Legacy: a peer record came or went.
fn rule_change(topology: &Topology, me: &RrIdentity, rule: Option<&PeerRule>, region: &mut Region) {
    let Some(rule) = rule.filter(|r| rule_concerns(RuleSet::Legacy, me, r)) else {
        return;
    };
    match &rule.nodes {
        NodeSelector::Named(node) => region.node(topology, node),
        _ => region.everything = true,
    }
}

/// The topology that recomputes `region`: fabric-wide settings, the rules,
/// this RR, and the candidates at the region's addresses. Also the names of
/// the nodes it holds (whose diagnostics it recomputes).
pub(super) fn topology(
    topology: &Topology,
    index: &Index,
    me: &RrIdentity,
    region: &Region,
) -> (Topology, BTreeSet<String>) {
    let mut names: BTreeSet<String> = region.names.clone();
    for a in &region.addrs {
        names.extend(index.at(a).cloned());
    }
    let mut sub = Topology {
        rules: topology.rules,
        defaults: topology.defaults.clone(),
        ..Topology::default()
    };
    for a in my_addresses(me).chain(region.addrs.iter().copied()) {
        if let Some(rr) = topology.route_reflectors.get(&a) {
            sub.route_reflectors.insert(a, rr.clone());
        }
    }
    let mut with_me = names.clone();
    match topology.rules {
        RuleSet::Legacy => {
            let rule_names = index.global_rules.iter().chain(
                names
                    .iter()
                    .filter_map(|n| index.node_rules.get(n))
                    .flatten(),
            );
            for r in rule_names {
                if let Some(rule) = topology.peers.get(r) {
                    sub.peers.insert(r.clone(), rule.clone());
                }
            }
        }
        RuleSet::CalicoV3 => {
            sub.peers = topology.peers.clone();
            sub.node_configs = topology.node_configs.clone();
            sub.secrets = topology.secrets.clone();
            with_me.extend(me.node_name.clone());
            for a in my_addresses(me) {
                with_me.extend(index.at(&a).cloned());
            }
        }
    }
    for n in &with_me {
        if let Some(node) = topology.nodes.get(n) {
            sub.nodes.insert(n.clone(), node.clone());
        }
    }
    // A legacy record for this RR only ever names a node by address.
    debug_assert!(sub
        .peers
        .values()
        .all(|r| topology.rules != RuleSet::Legacy || matches!(r.peer, PeerMatch::Ip { .. })));
    (sub, names)
}
