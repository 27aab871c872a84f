//! Calico v3 semantics (docs/semantics.md): the BGP sessions Calico's confd would
//! render for one node, from BGPPeer / BGPConfiguration / Node resources.
//!
//! Sits between a v3 source (etcd v3 resources, Kubernetes CRDs, a file)
//! and the engines; pure, no I/O. The session function works for any node
//! identity, RR or not, and is proven against Calico's own confd test
//! vectors (`rrd-layouts/tests/calico_fixtures.rs`).
//!
//! # Which sessions a node has
//!
//! 1. **Who "I" am**: the node named by `RrIdentity::node_name`, else the
//!    first node (by name) whose IPv4 or IPv6 address equals the identity's.
//!    An identity that matches no node is a plain BGP speaker: only global
//!    BGPPeers (no `node`/`nodeSelector`) apply to it, there is no mesh, and
//!    a diagnostic says so. A node is a route reflector only with
//!    `routeReflectorClusterID`; labels alone never make one.
//! 2. **Peerings** ([`peerings`]), as confd derives them from BGPPeers, in
//!    three passes whose first writer wins per `(peer address, port)`:
//!    global BGPPeers (neither `node` nor `nodeSelector`), then BGPPeers
//!    that select this node (`node` or `nodeSelector`), then automatic
//!    reverse peerings (`reversePeering: Auto`, the default): if this node
//!    is the *peer* side of a BGPPeer (it matches `peerSelector`, or its
//!    address, AS and listen port match `peerIP`), it peers back with every
//!    node of the *node* side. A reverse peering by `peerIP` stays in that
//!    address's family; one by selector covers both families. A
//!    node-specific or reverse peering is dropped when a global one exists
//!    for the same address and port.
//! 3. **Node-to-node mesh** (`nodeToNodeMeshEnabled`, default on): every
//!    other node with an address of the family, except route reflectors;
//!    an RR leaves the mesh entirely. Mesh names carry no port.
//! 4. **Per session**: remote AS = the BGPPeer's `asNumber` (the default AS
//!    when unset), or the selected node's AS (node AS, else default).
//!    Effective local AS = `localASNumber` (peerIP peerings only, as in
//!    Calico; rendered per session) else the node's AS else the default.
//!    `rr client` with *this* node's cluster id iff this node has one, the
//!    session is iBGP under the effective local AS, and the peer's cluster
//!    id differs (an empty one counts as different; a `peerIP` peering
//!    carries none, even when the address is a Calico RR — Calico's rule).
//!    Port: from `peerIP`, else the peer node's `listenPort`
//!    (`node.<name>` BGPConfiguration, else the default one); names get
//!    `_port_N`. `passive` only on global peerings by `peerIP` whose
//!    address is a Calico node and compares greater *as a string*, and on
//!    mesh sessions by the same comparison. `ttlSecurity: N` = TTL security
//!    with N hops, else plain multihop. `nextHopMode` Self/Keep applies to
//!    any peer; the deprecated `keepOriginalNextHop` only to eBGP and only
//!    when `nextHopMode` is unset. `sourceAddress: None` drops the source
//!    address. Passwords resolve through [`Topology::secrets`]; a missing
//!    secret means no password (like Calico) plus a diagnostic.
//!    `maxRestartTime` / `keepaliveTime` round to whole seconds.
//!    `numAllowedLocalASNumbers` and `localASNumber` only apply to `peerIP`
//!    peerings (confd ignores them for selector peerings).
//!
//! # Determinism
//!
//! Calico walks its BGPPeers in Go map order, so when two BGPPeers yield
//! the same `(address, port)` in the same pass, which one wins is random.
//! rrd walks them by name: **the lexically smallest BGPPeer name wins**, and
//! the pass order makes **global win over node-specific, and explicit over
//! reverse**. Nodes are visited by name, too. The output is a `BTreeMap`,
//! so it never depends on the order a source delivered resources in.
//!
//! # Bad rules
//!
//! A BGPPeer whose selector does not parse, or whose next-hop mode is
//! unknown, is skipped with a [`Diagnostic`] naming it; the other BGPPeers
//! still apply. One bad resource must not take the route reflector down.
//!
//! # Where rrd differs from confd on purpose
//!
//! * Matching `peerIP:port` against a node's listen port compares with the
//!   node's effective port (its own, else the default); confd also rejects
//!   a node whose own port matches when a different default is set.
//! * A `peerIP` BGPPeer without `asNumber` uses the default AS (confd
//!   would render `as 0`, which BIRD refuses).
//! * Sessions whose names collide (two nodes sharing an address) keep the
//!   first by node name, with a diagnostic, instead of a broken config.

pub mod selector;

mod peerings;
mod sessions;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{untag, About, Computed, Diagnostic, SemanticsError, Tagged};
use crate::model::{
    Asn, ClusterId, Family, Node, RouterSettings, RrConfig, RrIdentity, RuleSet, Topology,
};

pub use selector::{Selector, SelectorError};

/// The node whose sessions are computed.
#[derive(Debug)]
struct Local<'t> {
    /// `None`: the identity is not a Calico node.
    node: Option<&'t Node>,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
    /// Node AS, else the default AS (confd's `as_num` lookup).
    asn: Asn,
    cluster_id: Option<ClusterId>,
}

impl Local<'_> {
    fn name(&self) -> Option<&str> {
        self.node.map(|n| n.name.as_str())
    }

    fn address(&self, family: Family) -> Option<IpAddr> {
        match family {
            Family::Ipv4 => self.ipv4.map(IpAddr::V4),
            Family::Ipv6 => self.ipv6.map(IpAddr::V6),
        }
    }
}

/// Read-only view of the topology with the lookups every pass needs.
struct Ctx<'t> {
    topology: &'t Topology,
    local: Local<'t>,
    default_as: Asn,
}

impl<'t> Ctx<'t> {
    /// A node's AS as peers see it.
    fn node_asn(&self, node: &Node) -> Asn {
        node.asn.unwrap_or(self.default_as)
    }

    /// The port a node listens on: its `node.<name>` BGPConfiguration, else
    /// the default one; `None` = 179.
    fn listen_port(&self, node_name: &str) -> Option<u16> {
        self.topology
            .node_configs
            .get(node_name)
            .and_then(|c| c.listen_port)
            .or(self.topology.defaults.listen_port)
            .filter(|p| *p != 0)
    }

    /// Nodes that own `addr` (either family), by name.
    fn nodes_with_address(&self, addr: IpAddr) -> impl Iterator<Item = &'t Node> {
        self.topology.nodes.values().filter(move |n| {
            n.address(Family::Ipv4) == Some(addr) || n.address(Family::Ipv6) == Some(addr)
        })
    }
}

/// Compute the sessions of the node `me` under the Calico v3 rules.
pub fn compute(topology: &Topology, me: &RrIdentity) -> Result<Computed, SemanticsError> {
    let (config, tagged) = compute_tagged(topology, me)?;
    Ok(Computed {
        config,
        diagnostics: untag(tagged),
    })
}

/// [`compute`], each diagnostic with what it is about.
pub(crate) fn compute_tagged(
    topology: &Topology,
    me: &RrIdentity,
) -> Result<(RrConfig, Tagged), SemanticsError> {
    let mut diagnostics = Vec::new();
    let local = resolve_local(topology, me, &mut diagnostics)?;
    let router_id = me
        .router_id
        .or(local.ipv4)
        .ok_or(SemanticsError::MissingRouterId)?;
    let listen_port = match local.name() {
        Some(name) => topology
            .node_configs
            .get(name)
            .and_then(|c| c.listen_port)
            .or(topology.defaults.listen_port),
        None => topology.defaults.listen_port,
    }
    .filter(|p| *p != 0);
    let ctx = Ctx {
        topology,
        default_as: topology.default_asn(),
        local,
    };

    let rules = peerings::compile_rules(topology, &mut diagnostics);
    let peerings = peerings::collect(&ctx, &rules);
    let mut neighbors = BTreeMap::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        if ctx.local.address(family).is_some() {
            sessions::build(&ctx, &peerings, family, &mut neighbors, &mut diagnostics);
        }
    }

    Ok((
        RrConfig {
            router: RouterSettings {
                rules: RuleSet::CalicoV3,
                router_id,
                local_as: ctx.local.asn,
                cluster_id: ctx.local.cluster_id,
                ipv4: ctx.local.ipv4,
                ipv6: ctx.local.ipv6,
                listen_port,
            },
            neighbors,
        },
        diagnostics,
    ))
}

/// Rule 1: find the node this identity is.
fn resolve_local<'t>(
    topology: &'t Topology,
    me: &RrIdentity,
    diagnostics: &mut Tagged,
) -> Result<Local<'t>, SemanticsError> {
    let default_as = topology.default_asn();
    let node = match &me.node_name {
        Some(name) => Some(
            topology
                .nodes
                .get(name)
                .ok_or_else(|| SemanticsError::UnknownNode(name.clone()))?,
        ),
        None => {
            if me.ipv4.is_none() && me.ipv6.is_none() {
                return Err(SemanticsError::MissingIdentity);
            }
            topology.nodes.values().find(|n| {
                (me.ipv4.is_some() && n.ipv4 == me.ipv4) || (me.ipv6.is_some() && n.ipv6 == me.ipv6)
            })
        }
    };
    Ok(match node {
        Some(node) => Local {
            node: Some(node),
            ipv4: node.ipv4,
            ipv6: node.ipv6,
            asn: node.asn.unwrap_or(default_as),
            cluster_id: node.rr_cluster_id,
        },
        None => {
            let addrs: Vec<String> = [me.ipv4.map(IpAddr::V4), me.ipv6.map(IpAddr::V6)]
                .into_iter()
                .flatten()
                .map(|a| a.to_string())
                .collect();
            diagnostics.push((
                About::Topology,
                Diagnostic::new(
                    format!("identity {}", addrs.join(" ")),
                    "is not a Calico node (no Node has this address); only global BGPPeers apply, \
                     no node-to-node mesh",
                ),
            ));
            Local {
                node: None,
                ipv4: me.ipv4,
                ipv6: me.ipv6,
                asn: default_as,
                cluster_id: None,
            }
        }
    })
}
