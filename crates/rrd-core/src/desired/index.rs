//! Lookups that let a change find what it touches without walking the
//! fabric: nodes by address, and (legacy rules) this RR's peer records by
//! the node they name.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::model::{Family, Node, NodeSelector, PeerMatch, PeerRule, RrIdentity, RuleSet};

/// Whether a peer rule can matter to this RR. Legacy rules only ever use
/// records that name this RR's own address (`global/peer_v4/<me>`,
/// `host/<node>/peer_v4/<me>`); every other record is some other RR's
/// business and is not kept. Calico v3 rules select by label, so all are
/// kept (they are few).
pub(super) fn rule_concerns(rules: RuleSet, me: &RrIdentity, rule: &PeerRule) -> bool {
    match rules {
        RuleSet::CalicoV3 => true,
        RuleSet::Legacy => {
            matches!(rule.nodes, NodeSelector::All | NodeSelector::Named(_))
                && matches!(rule.peer, PeerMatch::Ip { addr, .. } if is_mine(me, addr))
        }
    }
}

/// One of this RR's own addresses.
pub(super) fn is_mine(me: &RrIdentity, addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => me.ipv4 == Some(a),
        IpAddr::V6(a) => me.ipv6 == Some(a),
    }
}

/// A node's addresses, both families.
pub(super) fn addresses(node: &Node) -> impl Iterator<Item = IpAddr> + '_ {
    [Family::Ipv4, Family::Ipv6]
        .into_iter()
        .filter_map(|f| node.address(f))
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Index {
    /// Node names by address (either family), sorted. Almost always one
    /// name: a vector costs a fraction of a set's node.
    pub nodes_at: BTreeMap<IpAddr, Vec<String>>,
    /// Legacy: names of the global rules for this RR.
    pub global_rules: BTreeSet<String>,
    /// Legacy: rules for this RR by the node they name.
    pub node_rules: BTreeMap<String, BTreeSet<String>>,
}

impl Index {
    pub fn node(&mut self, old: Option<&Node>, new: Option<&Node>) {
        if let Some(old) = old {
            for a in addresses(old) {
                if let Some(names) = self.nodes_at.get_mut(&a) {
                    names.retain(|n| *n != old.name);
                    if names.is_empty() {
                        self.nodes_at.remove(&a);
                    }
                }
            }
        }
        if let Some(new) = new {
            for a in addresses(new) {
                let names = self.nodes_at.entry(a).or_default();
                if let Err(at) = names.binary_search(&new.name) {
                    names.insert(at, new.name.clone());
                }
            }
        }
    }

    /// A rule kept by [`rule_concerns`] came, changed or went.
    pub fn rule(&mut self, old: Option<&PeerRule>, new: Option<&PeerRule>) {
        if let Some(old) = old {
            match &old.nodes {
                NodeSelector::All => {
                    self.global_rules.remove(&old.name);
                }
                NodeSelector::Named(node) => {
                    if let Some(rules) = self.node_rules.get_mut(node) {
                        rules.remove(&old.name);
                        if rules.is_empty() {
                            self.node_rules.remove(node);
                        }
                    }
                }
                NodeSelector::Selector(_) => {}
            }
        }
        if let Some(new) = new {
            match &new.nodes {
                NodeSelector::All => {
                    self.global_rules.insert(new.name.clone());
                }
                NodeSelector::Named(node) => {
                    self.node_rules
                        .entry(node.clone())
                        .or_default()
                        .insert(new.name.clone());
                }
                NodeSelector::Selector(_) => {}
            }
        }
    }

    /// Names of the nodes at `addr`.
    pub fn at(&self, addr: &IpAddr) -> impl Iterator<Item = &String> {
        self.nodes_at.get(addr).into_iter().flatten()
    }
}
