//! What one route reflector's daemon must hold: router settings plus one
//! [`Neighbor`] per session, keyed by a stable session name.
//!
//! Produced by `semantics::compute`, diffed by `plan`, consumed by engines.
//! Everything is ordered, so serialising an [`RrConfig`] is byte-stable.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::ids::{Asn, ClusterId, Family, Secret};
use super::topology::RuleSet;

/// The stable name of a session: BIRD protocol name, GoBGP peer
/// description. Unique within one [`RrConfig`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerKey(pub String);

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a session exists; also the prefix of its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SessionKind {
    /// RR-to-RR mesh (legacy) or node-to-node mesh (v3).
    Mesh,
    /// From a global peer rule.
    Global,
    /// From a node-specific or selector peer rule.
    Node,
}

impl SessionKind {
    pub fn prefix(self) -> &'static str {
        match self {
            SessionKind::Mesh => "Mesh",
            SessionKind::Global => "Global",
            SessionKind::Node => "Node",
        }
    }
}

/// `Mesh_172_17_42_31`, `Node_fd00__2`, `Global_10_192_0_1_port_150`: the
/// *other* side's address with `.` and `:` replaced by `_`.
pub fn session_name(kind: SessionKind, address: IpAddr, port: Option<u16>) -> PeerKey {
    let addr = address.to_string().replace(['.', ':'], "_");
    match port {
        Some(port) => PeerKey(format!("{}_{addr}_port_{port}", kind.prefix())),
        None => PeerKey(format!("{}_{addr}", kind.prefix())),
    }
}

/// RR client (we reflect to it, with our cluster id) or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// `rr client`, plus `rr cluster id` when one is set; `None` lets the
    /// daemon use its router id.
    RrClient { cluster_id: Option<ClusterId> },
    /// RR-to-RR mesh, external iBGP or eBGP peer.
    NonClient,
}

impl Role {
    pub fn is_client(&self) -> bool {
        matches!(self, Role::RrClient { .. })
    }
    pub fn cluster_id(&self) -> Option<ClusterId> {
        match self {
            Role::RrClient { cluster_id } => *cluster_id,
            Role::NonClient => None,
        }
    }
}

/// TTL handling: plain multihop (optionally bounded), or RFC 5082 TTL
/// security with a hop count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ttl {
    Multihop(Option<u8>),
    Security(u8),
}

/// Next-hop handling on routes sent to this neighbor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NextHop {
    /// The daemon's default (an RR keeps next hops of reflected routes).
    #[default]
    Auto,
    /// `next hop self`.
    SetSelf,
    /// `next hop keep`.
    Keep,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GracefulRestart {
    pub enabled: bool,
    /// Restart time we announce, seconds; `None` = the daemon's default.
    pub restart_time: Option<u32>,
}

/// One BGP session of the RR.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Neighbor {
    pub kind: SessionKind,
    pub address: IpAddr,
    /// Remote port; `None` = 179.
    pub port: Option<u16>,
    pub remote_as: Asn,
    pub local_as: Asn,
    /// Whether the session's local AS was set explicitly by the peer rule
    /// (rendered per session) rather than inherited.
    pub local_as_explicit: bool,
    pub role: Role,
    pub source_address: Option<IpAddr>,
    pub ttl: Ttl,
    pub graceful_restart: GracefulRestart,
    pub password: Option<Secret>,
    pub passive: bool,
    pub next_hop: NextHop,
    pub allow_local_as: Option<u8>,
    pub keepalive_time: Option<u32>,
    pub families: BTreeSet<Family>,
    /// The Calico node on the other side, when there is one (comments,
    /// status output).
    pub peer_node: Option<String>,
}

impl Neighbor {
    /// A session with the defaults every rule set starts from (docs/semantics.md,
    /// rule 6): local AS = remote AS (set explicitly), multihop, graceful
    /// restart on, the address's own family, nothing else set.
    pub fn new(
        kind: SessionKind,
        address: IpAddr,
        asn: Asn,
        role: Role,
        source_address: Option<IpAddr>,
    ) -> Neighbor {
        Neighbor {
            kind,
            address,
            port: None,
            remote_as: asn,
            local_as: asn,
            local_as_explicit: true,
            role,
            source_address,
            ttl: Ttl::Multihop(None),
            graceful_restart: GracefulRestart {
                enabled: true,
                restart_time: None,
            },
            password: None,
            passive: false,
            next_hop: NextHop::Auto,
            allow_local_as: None,
            keepalive_time: None,
            families: BTreeSet::from([Family::of(&address)]),
            peer_node: None,
        }
    }

    pub fn family(&self) -> Family {
        Family::of(&self.address)
    }
}

/// Settings of the daemon as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouterSettings {
    pub rules: RuleSet,
    pub router_id: Ipv4Addr,
    /// The AS the daemon runs as (mesh sessions; GoBGP's global AS).
    pub local_as: Asn,
    /// This RR's cluster id, if any (informative; sessions carry their own).
    pub cluster_id: Option<ClusterId>,
    /// Addresses the daemon binds to and sources sessions from.
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// BGP listen port; `None` = 179.
    pub listen_port: Option<u16>,
}

/// Everything one RR's daemon must hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RrConfig {
    pub router: RouterSettings,
    pub neighbors: BTreeMap<PeerKey, Neighbor>,
}

impl RrConfig {
    pub fn neighbors_of(&self, family: Family) -> impl Iterator<Item = (&PeerKey, &Neighbor)> {
        self.neighbors
            .iter()
            .filter(move |(_, n)| n.family() == family)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_replace_dots_and_colons() {
        let v4: IpAddr = "172.17.42.31".parse().unwrap();
        let v6: IpAddr = "fd00::2".parse().unwrap();
        assert_eq!(
            session_name(SessionKind::Global, v4, None).0,
            "Global_172_17_42_31"
        );
        assert_eq!(session_name(SessionKind::Mesh, v6, None).0, "Mesh_fd00__2");
        assert_eq!(
            session_name(SessionKind::Node, v6, Some(50)).0,
            "Node_fd00__2_port_50"
        );
    }
}
