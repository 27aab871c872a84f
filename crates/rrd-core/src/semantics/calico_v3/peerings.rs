//! From BGPPeer rules to this node's peerings: the three passes of rule 2
//! in the module header (global, node-specific, automatic reverse), keyed
//! by `(peer address, port)` with first-writer-wins.
//!
//! This is the step where confd turns v3 BGPPeers into its v1 peer keys;
//! here it is computed for the one node whose sessions are wanted, so the
//! cost is linear in rules x nodes, not quadratic in nodes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::selector::Selector;
use super::{About, Ctx, Diagnostic, Tagged};
use crate::model::{
    Asn, ClusterId, Family, NextHop, Node, NodeSelector, PeerMatch, PeerRule, ReversePeering,
    Topology,
};

/// A BGPPeer with its selectors parsed.
pub(super) struct Rule<'t> {
    pub rule: &'t PeerRule,
    nodes: NodeSide<'t>,
    peer: PeerSide,
    next_hop: NextHopPolicy,
}

enum NodeSide<'t> {
    /// Neither `node` nor `nodeSelector`: a global BGPPeer.
    All,
    Named(&'t str),
    Selector(Selector),
}

enum PeerSide {
    Ip { addr: IpAddr, port: Option<u16> },
    Selector(Selector),
}

/// How the next hop of routes sent to a peer is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NextHopPolicy {
    /// `nextHopMode` given: applies to iBGP and eBGP alike.
    Mode(NextHop),
    /// Only the deprecated `keepOriginalNextHop` flag: eBGP only.
    LegacyKeep(bool),
}

/// One peering of this node, before it becomes a session (confd's v1
/// `bgpPeer` value).
#[derive(Clone, Debug)]
pub(super) struct Peering<'t> {
    pub rule: &'t PeerRule,
    pub addr: IpAddr,
    pub port: Option<u16>,
    pub remote_as: Asn,
    /// `localASNumber`, only carried by `peerIP` peerings.
    pub local_as: Option<Asn>,
    /// The peer node's cluster id (selector and reverse peerings only).
    pub peer_cluster_id: Option<ClusterId>,
    /// A `peerIP` peering whose address belongs to a Calico node.
    pub calico_node: bool,
    pub ttl_security: Option<u8>,
    pub allow_local_as: Option<u8>,
    pub next_hop: NextHopPolicy,
    pub peer_node: Option<&'t str>,
}

pub(super) type Key = (IpAddr, Option<u16>);

/// The peerings of this node, by kind.
#[derive(Default)]
pub(super) struct Peerings<'t> {
    pub global: BTreeMap<Key, Peering<'t>>,
    pub node: BTreeMap<Key, Peering<'t>>,
}

impl<'t> Peerings<'t> {
    fn add_global(&mut self, p: Peering<'t>) {
        self.global.entry((p.addr, p.port)).or_insert(p);
    }

    /// Node-specific and reverse peerings yield to a global one.
    fn add_node(&mut self, p: Peering<'t>) {
        let key = (p.addr, p.port);
        if !self.global.contains_key(&key) {
            self.node.entry(key).or_insert(p);
        }
    }
}

/// Parse every rule's selectors, in name order. A rule that cannot be
/// understood is reported and skipped; the others still apply.
pub(super) fn compile_rules<'t>(topology: &'t Topology, diagnostics: &mut Tagged) -> Vec<Rule<'t>> {
    let mut rules = Vec::with_capacity(topology.peers.len());
    for rule in topology.peers.values() {
        match compile(rule) {
            Ok(r) => rules.push(r),
            Err(message) => diagnostics.push((
                About::Topology,
                Diagnostic::new(
                    format!("BGPPeer {}", rule.name),
                    format!("{message}; this BGPPeer is skipped"),
                ),
            )),
        }
    }
    rules
}

fn compile(rule: &PeerRule) -> Result<Rule<'_>, String> {
    let nodes = match &rule.nodes {
        NodeSelector::All => NodeSide::All,
        NodeSelector::Named(n) => NodeSide::Named(n),
        NodeSelector::Selector(s) if s.trim().is_empty() => NodeSide::All,
        NodeSelector::Selector(s) => {
            NodeSide::Selector(Selector::parse(s).map_err(|e| format!("nodeSelector: {e}"))?)
        }
    };
    let peer = match &rule.peer {
        PeerMatch::Ip { addr, port } => PeerSide::Ip {
            addr: *addr,
            port: port.filter(|p| *p != 0),
        },
        PeerMatch::Selector(s) if s.trim().is_empty() => {
            return Err("peerSelector is empty and there is no peerIP".into())
        }
        PeerMatch::Selector(s) => {
            PeerSide::Selector(Selector::parse(s).map_err(|e| format!("peerSelector: {e}"))?)
        }
    };
    let next_hop = match rule.next_hop_mode.as_deref().map(str::trim) {
        None => NextHopPolicy::LegacyKeep(rule.keep_original_next_hop),
        Some(m) if m.eq_ignore_ascii_case("auto") || m.is_empty() => {
            NextHopPolicy::Mode(NextHop::Auto)
        }
        Some(m) if m.eq_ignore_ascii_case("self") => NextHopPolicy::Mode(NextHop::SetSelf),
        Some(m) if m.eq_ignore_ascii_case("keep") => NextHopPolicy::Mode(NextHop::Keep),
        Some(m) => return Err(format!("nextHopMode {m:?} is not Auto, Self or Keep")),
    };
    Ok(Rule {
        rule,
        nodes,
        peer,
        next_hop,
    })
}

/// The three passes, in order; see the module header of `calico_v3`.
pub(super) fn collect<'t>(ctx: &Ctx<'t>, rules: &[Rule<'t>]) -> Peerings<'t> {
    let mut out = Peerings::default();
    for r in rules.iter().filter(|r| matches!(r.nodes, NodeSide::All)) {
        for p in forward(ctx, r) {
            out.add_global(p);
        }
    }
    for r in rules.iter().filter(|r| selects_local(ctx, r)) {
        for p in forward(ctx, r) {
            out.add_node(p);
        }
    }
    for r in rules {
        if r.rule.reverse_peering != ReversePeering::Auto {
            continue;
        }
        let Some((v4, v6)) = local_is_peer_side(ctx, r) else {
            continue;
        };
        for node in node_side(ctx, r) {
            for p in node_peerings(ctx, node, v4, v6, r) {
                out.add_node(p);
            }
        }
    }
    out
}

/// Whether a non-global rule applies to this node (`node` / `nodeSelector`).
fn selects_local(ctx: &Ctx<'_>, r: &Rule<'_>) -> bool {
    match (&r.nodes, ctx.local.node) {
        (NodeSide::All, _) | (_, None) => false,
        (NodeSide::Named(name), Some(me)) => *name == me.name,
        (NodeSide::Selector(s), Some(me)) => s.matches(&me.labels),
    }
}

/// The peerings a rule gives the nodes on its node side.
fn forward<'t>(ctx: &Ctx<'t>, r: &Rule<'t>) -> Vec<Peering<'t>> {
    match &r.peer {
        PeerSide::Selector(s) => ctx
            .topology
            .nodes
            .values()
            .filter(|n| s.matches(&n.labels))
            .flat_map(|n| node_peerings(ctx, n, true, true, r))
            .collect(),
        PeerSide::Ip { addr, port } => {
            // A peer that is a Calico node is reached on that node's listen
            // port unless the rule gives one.
            let port = port.or_else(|| {
                nodes_at(ctx, *addr, r.rule.asn, None)
                    .next()
                    .and_then(|n| ctx.listen_port(&n.name))
            });
            let owner = ctx.nodes_with_address(*addr).next();
            vec![Peering {
                rule: r.rule,
                addr: *addr,
                port,
                remote_as: r.rule.asn.unwrap_or(ctx.default_as),
                local_as: r.rule.local_asn,
                peer_cluster_id: None,
                calico_node: owner.is_some(),
                ttl_security: r.rule.ttl_security,
                allow_local_as: r.rule.num_allowed_local_as,
                next_hop: r.next_hop,
                peer_node: owner.map(|n| n.name.as_str()),
            }]
        }
    }
}

/// Nodes that a `peerIP` designates: same address, same AS (the rule's,
/// else the default), and, when the rule gives a port, the same effective
/// listen port.
fn nodes_at<'t, 'c>(
    ctx: &'c Ctx<'t>,
    addr: IpAddr,
    asn: Option<Asn>,
    port: Option<u16>,
) -> impl Iterator<Item = &'t Node> + 'c {
    let want_as = asn.unwrap_or(ctx.default_as);
    ctx.nodes_with_address(addr).filter(move |n| {
        ctx.node_asn(n) == want_as
            && port.is_none_or(|p| ctx.listen_port(&n.name).is_none_or(|lp| lp == p))
    })
}

/// For automatic reverse peering: is this node on the rule's *peer* side,
/// and over which families ((v4, v6)) does the reverse peering run?
fn local_is_peer_side(ctx: &Ctx<'_>, r: &Rule<'_>) -> Option<(bool, bool)> {
    let me = ctx.local.node?;
    match &r.peer {
        PeerSide::Selector(s) => s.matches(&me.labels).then_some((true, true)),
        PeerSide::Ip { addr, port } => nodes_at(ctx, *addr, r.rule.asn, *port)
            .any(|n| n.name == me.name)
            .then_some((addr.is_ipv4(), addr.is_ipv6())),
    }
}

/// The nodes on a rule's node side (all nodes for a global rule).
fn node_side<'t>(ctx: &Ctx<'t>, r: &Rule<'t>) -> Vec<&'t Node> {
    let nodes = &ctx.topology.nodes;
    match &r.nodes {
        NodeSide::All => nodes.values().collect(),
        NodeSide::Named(name) => nodes.get(*name).into_iter().collect(),
        NodeSide::Selector(s) => nodes.values().filter(|n| s.matches(&n.labels)).collect(),
    }
}

/// A Calico node as the peer of a rule, over the chosen families.
fn node_peerings<'t>(
    ctx: &Ctx<'t>,
    node: &'t Node,
    v4: bool,
    v6: bool,
    r: &Rule<'t>,
) -> Vec<Peering<'t>> {
    [(v4, Family::Ipv4), (v6, Family::Ipv6)]
        .into_iter()
        .filter(|(wanted, _)| *wanted)
        .filter_map(|(_, family)| node.address(family))
        .map(|addr| Peering {
            rule: r.rule,
            addr,
            port: ctx.listen_port(&node.name),
            remote_as: ctx.node_asn(node),
            local_as: None,
            peer_cluster_id: node.rr_cluster_id,
            calico_node: false,
            ttl_security: r.rule.ttl_security,
            allow_local_as: None,
            next_hop: r.next_hop,
            peer_node: Some(node.name.as_str()),
        })
        .collect()
}
