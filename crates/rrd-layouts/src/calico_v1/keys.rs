//! Which calico-v1 key is which: the path grammar below the prefix.
//!
//! Paths are relative to the layout prefix (`/calico/bgp/v1` in etcd,
//! `calico/bgp/v1` in Consul). Addresses in key segments must be written in
//! their canonical form (`fd00::2`, not `fd00:0::2`), as calicoctl wrote
//! them: two spellings of one address would otherwise name two entities.

use std::fmt;
use std::net::IpAddr;

use rrd_core::Family;

use super::RejectReason;

/// One meaningful key of the calico-v1 layout.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LegacyKey {
    /// `global/as_num`
    DefaultAsn,
    /// `global/node_mesh`
    NodeMesh,
    /// `global/peer_v4/<ip>`, `global/peer_v6/<ip>`
    GlobalPeer(IpAddr),
    /// `host/<name>/ip_addr_v4`
    HostIpv4(String),
    /// `host/<name>/ip_addr_v6`
    HostIpv6(String),
    /// `host/<name>/as_num`
    HostAsn(String),
    /// `host/<name>/peer_v4/<ip>`, `host/<name>/peer_v6/<ip>`
    HostPeer(String, IpAddr),
    /// `rr_v4/<ip>`, `rr_v6/<ip>`
    RouteReflector(IpAddr),
}

/// The topology entity a key contributes to. Setting or deleting a key
/// re-decodes only its entity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Entity {
    Defaults,
    Host(String),
    GlobalPeer(IpAddr),
    HostPeer(String, IpAddr),
    RouteReflector(IpAddr),
}

impl LegacyKey {
    pub(crate) fn entity(&self) -> Entity {
        match self {
            LegacyKey::DefaultAsn | LegacyKey::NodeMesh => Entity::Defaults,
            LegacyKey::GlobalPeer(ip) => Entity::GlobalPeer(*ip),
            LegacyKey::HostIpv4(n) | LegacyKey::HostIpv6(n) | LegacyKey::HostAsn(n) => {
                Entity::Host(n.clone())
            }
            LegacyKey::HostPeer(n, ip) => Entity::HostPeer(n.clone(), *ip),
            LegacyKey::RouteReflector(ip) => Entity::RouteReflector(*ip),
        }
    }

    /// The key's path below the prefix (the inverse of [`classify`]).
    pub fn path(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for LegacyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegacyKey::DefaultAsn => f.write_str("global/as_num"),
            LegacyKey::NodeMesh => f.write_str("global/node_mesh"),
            LegacyKey::GlobalPeer(ip) => write!(f, "global/{}/{ip}", peer_dir(ip)),
            LegacyKey::HostIpv4(n) => write!(f, "host/{n}/ip_addr_v4"),
            LegacyKey::HostIpv6(n) => write!(f, "host/{n}/ip_addr_v6"),
            LegacyKey::HostAsn(n) => write!(f, "host/{n}/as_num"),
            LegacyKey::HostPeer(n, ip) => write!(f, "host/{n}/{}/{ip}", peer_dir(ip)),
            LegacyKey::RouteReflector(ip) => {
                write!(f, "{}/{ip}", if ip.is_ipv4() { "rr_v4" } else { "rr_v6" })
            }
        }
    }
}

fn peer_dir(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "peer_v4"
    } else {
        "peer_v6"
    }
}

/// What a path below the prefix is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyClass {
    /// A key rrd decodes.
    Known(LegacyKey),
    /// A key Calico writes that carries nothing rrd needs (`loglevel`,
    /// `network_v4`): ignored silently, never rejected.
    Ignored,
}

/// Classify a path relative to the prefix (no leading slash).
pub fn classify(rel: &str) -> Result<KeyClass, RejectReason> {
    let parts: Vec<&str> = rel.split('/').collect();
    let known = |k| Ok(KeyClass::Known(k));
    match parts.as_slice() {
        ["global", "as_num"] => known(LegacyKey::DefaultAsn),
        ["global", "node_mesh"] => known(LegacyKey::NodeMesh),
        ["global", "loglevel"] => Ok(KeyClass::Ignored),
        ["global", "peer_v4", ip] => known(LegacyKey::GlobalPeer(key_ip(ip, Family::Ipv4)?)),
        ["global", "peer_v6", ip] => known(LegacyKey::GlobalPeer(key_ip(ip, Family::Ipv6)?)),
        ["host", name, rest @ ..] if !name.is_empty() => {
            let name = (*name).to_owned();
            match rest {
                ["ip_addr_v4"] => known(LegacyKey::HostIpv4(name)),
                ["ip_addr_v6"] => known(LegacyKey::HostIpv6(name)),
                ["as_num"] => known(LegacyKey::HostAsn(name)),
                ["peer_v4", ip] => known(LegacyKey::HostPeer(name, key_ip(ip, Family::Ipv4)?)),
                ["peer_v6", ip] => known(LegacyKey::HostPeer(name, key_ip(ip, Family::Ipv6)?)),
                ["loglevel"] | ["network_v4"] | ["network_v6"] => Ok(KeyClass::Ignored),
                _ => Err(RejectReason::OutsideLayout),
            }
        }
        ["rr_v4", ip] => known(LegacyKey::RouteReflector(key_ip(ip, Family::Ipv4)?)),
        ["rr_v6", ip] => known(LegacyKey::RouteReflector(key_ip(ip, Family::Ipv6)?)),
        _ => Err(RejectReason::OutsideLayout),
    }
}

/// The address in a key segment: must parse, be of the directory's family
/// and be written canonically.
fn key_ip(segment: &str, family: Family) -> Result<IpAddr, RejectReason> {
    let bad = |detail: &str| RejectReason::BadKeyAddress {
        segment: segment.to_owned(),
        detail: detail.to_owned(),
    };
    let ip: IpAddr = segment.parse().map_err(|_| bad("not an IP address"))?;
    if Family::of(&ip) != family {
        return Err(bad(match family {
            Family::Ipv4 => "an IPv6 address under a _v4 directory",
            Family::Ipv6 => "an IPv4 address under a _v6 directory",
        }));
    }
    if ip.to_string() != segment {
        return Err(RejectReason::BadKeyAddress {
            segment: segment.to_owned(),
            detail: format!("not in canonical form (write {ip})"),
        });
    }
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_key_kind_round_trips_through_its_path() {
        let keys = [
            LegacyKey::DefaultAsn,
            LegacyKey::NodeMesh,
            LegacyKey::GlobalPeer(ip("172.17.42.40")),
            LegacyKey::GlobalPeer(ip("fd00::2")),
            LegacyKey::HostIpv4("kube-node1".into()),
            LegacyKey::HostIpv6("kube-node1".into()),
            LegacyKey::HostAsn("kube-node1".into()),
            LegacyKey::HostPeer("kube-node1".into(), ip("172.17.42.40")),
            LegacyKey::HostPeer("kube-node1".into(), ip("fd00::40")),
            LegacyKey::RouteReflector(ip("172.17.42.40")),
            LegacyKey::RouteReflector(ip("fd00::40")),
        ];
        for k in keys {
            assert_eq!(classify(&k.path()), Ok(KeyClass::Known(k.clone())), "{k}");
        }
    }

    #[test]
    fn calico_bookkeeping_keys_are_ignored_not_rejected() {
        for p in [
            "global/loglevel",
            "host/n1/loglevel",
            "host/n1/network_v4",
            "host/n1/network_v6",
        ] {
            assert_eq!(classify(p), Ok(KeyClass::Ignored), "{p}");
        }
    }

    #[test]
    fn keys_outside_the_layout_are_rejected() {
        for p in [
            "global/as_nm",
            "global",
            "host/n1",
            "host//ip_addr_v4",
            "host/n1/peer_v4",
            "host/n1/peer_v4/10.0.0.1/extra",
            "rr_v5/10.0.0.1",
            "something/else",
            "",
        ] {
            assert_eq!(classify(p), Err(RejectReason::OutsideLayout), "{p}");
        }
    }

    #[test]
    fn addresses_in_keys_must_parse_match_the_family_and_be_canonical() {
        for p in [
            "rr_v4/not-an-ip",
            "rr_v4/fd00::1",
            "rr_v6/10.0.0.1",
            "global/peer_v4/300.1.1.1",
            "host/n1/peer_v6/fd00:0::2",
        ] {
            assert!(
                matches!(classify(p), Err(RejectReason::BadKeyAddress { .. })),
                "{p}: {:?}",
                classify(p)
            );
        }
    }
}
