//! Legacy semantics (docs/semantics.md): what the calico/routereflector image's
//! confd template rendered, with its bugs fixed on purpose.
//!
//! * Registered RRs (`rr_v4/<ip>`, `rr_v6/<ip>`) form one non-client full
//!   mesh in the default AS, whatever their cluster ids.
//! * If this RR is a global peer, every node is its client; nodes that name
//!   it under `host/<node>/peer_v4/<ip>` are clients too. Both AS numbers of a
//!   client session come from the peer record.
//! * Client sessions carry this RR's cluster id when it has one.
//! * One session per neighbor address: mesh first, then global, then node.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{untag, About, Computed, Diagnostic, SemanticsError, Tagged};
use crate::model::{
    session_name, Asn, ClusterId, Family, Neighbor, NodeSelector, PeerKey, PeerMatch, Role,
    RouterSettings, RrConfig, RrIdentity, RuleSet, SessionKind, Topology,
};

/// This RR, as the legacy rules see it on one address family.
struct Me {
    family: Family,
    address: IpAddr,
}

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
    if me.ipv4.is_none() && me.ipv6.is_none() {
        return Err(SemanticsError::MissingIdentity);
    }
    let router_id = me.router_id().ok_or(SemanticsError::MissingRouterId)?;
    let default_as = topology.default_asn();

    // Registration: rr_v4/<IP> first, rr_v6/<IP6> as a fallback for an
    // IPv6-only RR. Clustered iff registered on either family.
    let registration = me
        .ipv4
        .and_then(|ip| topology.route_reflectors.get(&IpAddr::V4(ip)))
        .or_else(|| {
            me.ipv6
                .and_then(|ip| topology.route_reflectors.get(&IpAddr::V6(ip)))
        });
    let clustered = registration.is_some();
    let cluster_id: Option<ClusterId> = registration.and_then(|r| r.cluster_id);
    let local_as = registration.and_then(|r| r.asn).unwrap_or(default_as);

    let mut builder = Builder {
        topology,
        cluster_id,
        neighbors: BTreeMap::new(),
        by_address: BTreeMap::new(),
        diagnostics: Vec::new(),
    };
    let sides = [
        me.ipv4.map(|ip| Me {
            family: Family::Ipv4,
            address: IpAddr::V4(ip),
        }),
        me.ipv6.map(|ip| Me {
            family: Family::Ipv6,
            address: IpAddr::V6(ip),
        }),
    ];
    for side in sides.iter().flatten() {
        if clustered {
            builder.mesh(side, local_as, default_as);
        }
        builder.global_clients(side, default_as);
        builder.node_clients(side, default_as);
    }

    Ok((
        RrConfig {
            router: RouterSettings {
                rules: RuleSet::Legacy,
                router_id,
                local_as,
                cluster_id,
                ipv4: me.ipv4,
                ipv6: me.ipv6,
                listen_port: None,
            },
            neighbors: builder.neighbors,
        },
        builder.diagnostics,
    ))
}

struct Builder<'t> {
    topology: &'t Topology,
    cluster_id: Option<ClusterId>,
    neighbors: BTreeMap<PeerKey, Neighbor>,
    /// Which session already owns a neighbor address.
    by_address: BTreeMap<IpAddr, (SessionKind, PeerKey)>,
    diagnostics: Tagged,
}

impl Builder<'_> {
    /// Rule 2: one non-client session to every other registered RR of the
    /// same family, in the default AS.
    fn mesh(&mut self, me: &Me, local_as: Asn, default_as: Asn) {
        for rr in self.topology.route_reflectors.values() {
            if Family::of(&rr.ip) != me.family || rr.ip == me.address {
                continue;
            }
            let remote_as = rr.asn.unwrap_or(default_as);
            self.add(
                me,
                SessionKind::Mesh,
                rr.ip,
                remote_as,
                local_as,
                Role::NonClient,
                None,
            );
        }
    }

    /// Rule 3: if this RR is a global peer, every node is a client.
    fn global_clients(&mut self, me: &Me, default_as: Asn) {
        let Some(rule) = self.topology.peers.values().find(|p| {
            p.nodes == NodeSelector::All
                && matches!(p.peer, PeerMatch::Ip { addr, .. } if addr == me.address)
        }) else {
            return;
        };
        let asn = rule.asn.unwrap_or(default_as);
        for node in self.topology.nodes.values() {
            match node.address(me.family) {
                Some(addr) => {
                    let role = self.client_role();
                    self.add(
                        me,
                        SessionKind::Global,
                        addr,
                        asn,
                        asn,
                        role,
                        Some(node.name.clone()),
                    );
                }
                None if me.family == Family::Ipv4 => self.diagnostics.push((
                    About::Node(node.name.clone()),
                    Diagnostic::new(
                        format!("node {}", node.name),
                        "has no IPv4 address (host/<node>/ip_addr_v4 empty or missing); skipped",
                    ),
                )),
                None => {}
            }
        }
    }

    /// Rule 4: nodes that list this RR under `host/<node>/peer_v4/<ip>`.
    fn node_clients(&mut self, me: &Me, default_as: Asn) {
        for rule in self.topology.peers.values() {
            let NodeSelector::Named(node_name) = &rule.nodes else {
                continue;
            };
            if !matches!(rule.peer, PeerMatch::Ip { addr, .. } if addr == me.address) {
                continue;
            }
            let Some(node) = self.topology.nodes.get(node_name) else {
                self.diagnostics.push((
                    About::Node(node_name.clone()),
                    Diagnostic::new(
                        rule.name.clone(),
                        format!(
                            "peers with this RR but node {node_name:?} has no address keys; skipped"
                        ),
                    ),
                ));
                continue;
            };
            let Some(addr) = node.address(me.family) else {
                self.diagnostics.push((
                    About::Node(node_name.clone()),
                    Diagnostic::new(
                        rule.name.clone(),
                        format!("node {node_name:?} has no {} address; skipped", me.family),
                    ),
                ));
                continue;
            };
            let asn = rule.asn.unwrap_or(default_as);
            let role = self.client_role();
            self.add(
                me,
                SessionKind::Node,
                addr,
                asn,
                asn,
                role,
                Some(node.name.clone()),
            );
        }
    }

    /// Rule 5: client sessions carry the cluster id when there is one.
    fn client_role(&self) -> Role {
        Role::RrClient {
            cluster_id: self.cluster_id,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        me: &Me,
        kind: SessionKind,
        address: IpAddr,
        remote_as: Asn,
        local_as: Asn,
        role: Role,
        peer_node: Option<String>,
    ) {
        let key = session_name(kind, address, None);
        if address == me.address {
            return; // never peer with ourselves
        }
        if let Some((existing_kind, existing)) = self.by_address.get(&address) {
            // A node that is both a global and a node-specific client gets
            // one session, silently (rule 8); anything else is worth a word.
            let expected = *existing_kind == kind
                || (*existing_kind == SessionKind::Global && kind == SessionKind::Node);
            if !expected {
                self.diagnostics.push((
                    About::Address(address),
                    Diagnostic::new(
                        key.0.clone(),
                        format!("{address} already has session {existing}; this one is skipped"),
                    ),
                ));
            }
            return;
        }
        self.by_address.insert(address, (kind, key.clone()));
        let neighbor = Neighbor {
            remote_as,
            local_as,
            peer_node,
            ..Neighbor::new(kind, address, remote_as, role, Some(me.address))
        };
        self.neighbors.insert(key, neighbor);
    }
}

#[cfg(test)]
pub(crate) mod tests;
