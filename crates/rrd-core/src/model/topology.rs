//! The fabric as a datastore describes it: nodes, registered route
//! reflectors, peering rules and defaults.
//!
//! Sources decode their layout (calico-v1 keys, Calico v3 resources, a file)
//! into a [`Topology`] and keep it current with [`TopologyChange`]s. Every
//! collection is a `BTreeMap`, so iteration order never depends on the order
//! in which a datastore returned its keys.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ids::{Asn, ClusterId, Secret, SecretRef};
use super::labels::Labels;

/// Which session rules apply to a topology (legacy vs Calico v3; docs/semantics.md). It follows
/// the data: calico-v1 keys are [`RuleSet::Legacy`], Calico v3 resources are
/// [`RuleSet::CalicoV3`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleSet {
    /// The calico/routereflector image's template: registered RRs form a
    /// non-client full mesh, clients come from global and node peer records.
    #[default]
    Legacy,
    /// Calico v3: RRs are nodes with a cluster id, BGPPeer selectors,
    /// automatic reverse peerings, client flag by cluster id.
    CalicoV3,
}

impl RuleSet {
    /// The AS used when the datastore sets none.
    pub fn default_asn(self) -> Asn {
        match self {
            RuleSet::Legacy => Asn(64511),
            RuleSet::CalicoV3 => Asn(64512),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RuleSet::Legacy => "legacy (calico-v1)",
            RuleSet::CalicoV3 => "calico-v3",
        }
    }
}

/// Fabric-wide defaults (`global/as_num`, `global/node_mesh`, or the
/// `default` BGPConfiguration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Defaults {
    /// `None`: the rule set's default (64511 legacy, 64512 v3).
    pub asn: Option<Asn>,
    /// Node-to-node mesh (missing = on).
    pub node_mesh: bool,
    /// Default BGP listen port of Calico nodes (v3 `listenPort`).
    pub listen_port: Option<u16>,
    /// Password of node-to-node mesh sessions (v3 `nodeMeshPassword`).
    pub node_mesh_password: Option<SecretRef>,
    /// Graceful-restart time of mesh sessions (v3 `nodeMeshMaxRestartTime`).
    #[serde(with = "humantime_opt")]
    pub node_mesh_max_restart_time: Option<Duration>,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            asn: None,
            node_mesh: true,
            listen_port: None,
            node_mesh_password: None,
            node_mesh_max_restart_time: None,
        }
    }
}

/// Per-node overrides (v3 BGPConfiguration `node.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeBgpConfig {
    pub listen_port: Option<u16>,
}

/// A registered route reflector (legacy `rr_v4/<ip>`, `rr_v6/<ip>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteReflector {
    pub ip: IpAddr,
    #[serde(default)]
    pub cluster_id: Option<ClusterId>,
    #[serde(default)]
    pub asn: Option<Asn>,
}

/// A BGP speaker that may be an RR client (a Calico node).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub name: String,
    #[serde(default)]
    pub ipv4: Option<Ipv4Addr>,
    #[serde(default)]
    pub ipv6: Option<Ipv6Addr>,
    #[serde(default)]
    pub asn: Option<Asn>,
    #[serde(default)]
    pub labels: Labels,
    /// v3 `routeReflectorClusterID`: a node is an RR only with one.
    #[serde(default)]
    pub rr_cluster_id: Option<ClusterId>,
}

impl Node {
    pub fn new(name: impl Into<String>) -> Self {
        Node {
            name: name.into(),
            ipv4: None,
            ipv6: None,
            asn: None,
            labels: Labels::new(),
            rr_cluster_id: None,
        }
    }

    pub fn address(&self, family: super::Family) -> Option<IpAddr> {
        match family {
            super::Family::Ipv4 => self.ipv4.map(IpAddr::V4),
            super::Family::Ipv6 => self.ipv6.map(IpAddr::V6),
        }
    }
}

/// Which nodes a [`PeerRule`] applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeSelector {
    /// Every node (legacy `global/peer_v4/<ip>`; v3 without node fields).
    All,
    /// One node by name (legacy `host/<name>/peer_v4/<ip>`; v3 `node`).
    Named(String),
    /// v3 `nodeSelector` expression, kept verbatim.
    Selector(String),
}

/// Whom the selected nodes peer with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerMatch {
    /// A fixed address (v3 `peerIP`, optionally with a port).
    Ip { addr: IpAddr, port: Option<u16> },
    /// v3 `peerSelector` expression, kept verbatim.
    Selector(String),
}

/// v3 `sourceAddress`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceAddress {
    #[default]
    UseNodeIP,
    None,
}

/// v3 `reversePeering`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReversePeering {
    #[default]
    Auto,
    Manual,
}

/// Who peers with whom: one legacy peer record or one v3 BGPPeer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerRule {
    /// Unique and stable: the v3 resource name, or the legacy key below
    /// `/calico/bgp/v1/` (`global/peer_v4/<ip>`, `host/<node>/peer_v4/<ip>`).
    pub name: String,
    pub nodes: NodeSelector,
    pub peer: PeerMatch,
    /// `asNumber` / legacy `as_num`.
    #[serde(default)]
    pub asn: Option<Asn>,
    #[serde(default)]
    pub local_asn: Option<Asn>,
    #[serde(default)]
    pub password: Option<SecretRef>,
    #[serde(default)]
    pub source_address: SourceAddress,
    #[serde(default, with = "humantime_opt")]
    pub max_restart_time: Option<Duration>,
    #[serde(default, with = "humantime_opt")]
    pub keepalive_time: Option<Duration>,
    #[serde(default)]
    pub ttl_security: Option<u8>,
    #[serde(default)]
    pub num_allowed_local_as: Option<u8>,
    /// v3 `nextHopMode` (`Auto`, `Self`, `Keep`): applies to iBGP and eBGP
    /// peers alike, and when set, `keep_original_next_hop` is ignored.
    #[serde(default)]
    pub next_hop_mode: Option<String>,
    /// v3 `keepOriginalNextHop` (deprecated): kept apart from
    /// `next_hop_mode` because Calico applies it to eBGP peers only.
    #[serde(default)]
    pub keep_original_next_hop: bool,
    #[serde(default)]
    pub reverse_peering: ReversePeering,
}

impl PeerRule {
    /// A rule with only the fields a legacy record carries.
    pub fn new(
        name: impl Into<String>,
        nodes: NodeSelector,
        peer: PeerMatch,
        asn: Option<Asn>,
    ) -> Self {
        PeerRule {
            name: name.into(),
            nodes,
            peer,
            asn,
            local_asn: None,
            password: None,
            source_address: SourceAddress::UseNodeIP,
            max_restart_time: None,
            keepalive_time: None,
            ttl_security: None,
            num_allowed_local_as: None,
            next_hop_mode: None,
            keep_original_next_hop: false,
            reverse_peering: ReversePeering::Auto,
        }
    }

    /// Legacy `global/peer_v4/<ip>` (or `peer_v6`).
    pub fn legacy_global(ip: IpAddr, asn: Option<Asn>) -> Self {
        let name = format!("global/{}/{ip}", legacy_peer_dir(&ip));
        PeerRule::new(
            name,
            NodeSelector::All,
            PeerMatch::Ip {
                addr: ip,
                port: None,
            },
            asn,
        )
    }

    /// Legacy `host/<node>/peer_v4/<ip>` (or `peer_v6`).
    pub fn legacy_node(node: &str, ip: IpAddr, asn: Option<Asn>) -> Self {
        let name = format!("host/{node}/{}/{ip}", legacy_peer_dir(&ip));
        PeerRule::new(
            name,
            NodeSelector::Named(node.to_owned()),
            PeerMatch::Ip {
                addr: ip,
                port: None,
            },
            asn,
        )
    }
}

fn legacy_peer_dir(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "peer_v4"
    } else {
        "peer_v6"
    }
}

/// A complete, consistent snapshot of what the datastore says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topology {
    pub rules: RuleSet,
    pub defaults: Defaults,
    pub route_reflectors: BTreeMap<IpAddr, RouteReflector>,
    pub nodes: BTreeMap<String, Node>,
    pub peers: BTreeMap<String, PeerRule>,
    pub node_configs: BTreeMap<String, NodeBgpConfig>,
    /// Resolved secrets, by reference. Never serialised in status output.
    #[serde(skip)]
    pub secrets: BTreeMap<SecretRef, Secret>,
}

/// One change to a [`Topology`]. Sources emit these after their initial
/// snapshot; applying them in order yields the next snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopologyChange {
    Defaults(Defaults),
    UpsertNode(Node),
    RemoveNode(String),
    UpsertRouteReflector(RouteReflector),
    RemoveRouteReflector(IpAddr),
    UpsertPeer(PeerRule),
    RemovePeer(String),
    UpsertNodeConfig(String, NodeBgpConfig),
    RemoveNodeConfig(String),
    UpsertSecret(SecretRef, Secret),
    RemoveSecret(SecretRef),
}

impl Topology {
    /// The effective default AS.
    pub fn default_asn(&self) -> Asn {
        self.defaults
            .asn
            .unwrap_or_else(|| self.rules.default_asn())
    }

    /// Apply one change; returns whether anything differed.
    pub fn apply(&mut self, change: TopologyChange) -> bool {
        fn upsert<K: Ord, V: PartialEq>(map: &mut BTreeMap<K, V>, key: K, value: V) -> bool {
            match map.get(&key) {
                Some(old) if *old == value => false,
                _ => {
                    map.insert(key, value);
                    true
                }
            }
        }
        match change {
            TopologyChange::Defaults(d) => {
                let changed = self.defaults != d;
                self.defaults = d;
                changed
            }
            TopologyChange::UpsertNode(n) => upsert(&mut self.nodes, n.name.clone(), n),
            TopologyChange::RemoveNode(name) => self.nodes.remove(&name).is_some(),
            TopologyChange::UpsertRouteReflector(rr) => {
                upsert(&mut self.route_reflectors, rr.ip, rr)
            }
            TopologyChange::RemoveRouteReflector(ip) => self.route_reflectors.remove(&ip).is_some(),
            TopologyChange::UpsertPeer(p) => upsert(&mut self.peers, p.name.clone(), p),
            TopologyChange::RemovePeer(name) => self.peers.remove(&name).is_some(),
            TopologyChange::UpsertNodeConfig(name, c) => upsert(&mut self.node_configs, name, c),
            TopologyChange::RemoveNodeConfig(name) => self.node_configs.remove(&name).is_some(),
            TopologyChange::UpsertSecret(r, s) => upsert(&mut self.secrets, r, s),
            TopologyChange::RemoveSecret(r) => self.secrets.remove(&r).is_some(),
        }
    }

    /// The changes that turn `self` into `next` (used by sources that
    /// re-read everything after losing their watch history).
    pub fn diff(&self, next: &Topology) -> Vec<TopologyChange> {
        let mut out = Vec::new();
        if self.defaults != next.defaults {
            out.push(TopologyChange::Defaults(next.defaults.clone()));
        }
        diff_maps(
            &self.nodes,
            &next.nodes,
            &mut out,
            |n| TopologyChange::UpsertNode(n.clone()),
            |k| TopologyChange::RemoveNode(k.clone()),
        );
        diff_maps(
            &self.route_reflectors,
            &next.route_reflectors,
            &mut out,
            |r| TopologyChange::UpsertRouteReflector(r.clone()),
            |k| TopologyChange::RemoveRouteReflector(*k),
        );
        diff_maps(
            &self.peers,
            &next.peers,
            &mut out,
            |p| TopologyChange::UpsertPeer(p.clone()),
            |k| TopologyChange::RemovePeer(k.clone()),
        );
        for (k, v) in &next.node_configs {
            if self.node_configs.get(k) != Some(v) {
                out.push(TopologyChange::UpsertNodeConfig(k.clone(), v.clone()));
            }
        }
        for k in self
            .node_configs
            .keys()
            .filter(|k| !next.node_configs.contains_key(*k))
        {
            out.push(TopologyChange::RemoveNodeConfig(k.clone()));
        }
        for (k, v) in &next.secrets {
            if self.secrets.get(k) != Some(v) {
                out.push(TopologyChange::UpsertSecret(k.clone(), v.clone()));
            }
        }
        for k in self
            .secrets
            .keys()
            .filter(|k| !next.secrets.contains_key(*k))
        {
            out.push(TopologyChange::RemoveSecret(k.clone()));
        }
        out
    }
}

fn diff_maps<K: Ord, V: PartialEq>(
    old: &BTreeMap<K, V>,
    new: &BTreeMap<K, V>,
    out: &mut Vec<TopologyChange>,
    upsert: impl Fn(&V) -> TopologyChange,
    remove: impl Fn(&K) -> TopologyChange,
) {
    for (k, v) in new {
        if old.get(k) != Some(v) {
            out.push(upsert(v));
        }
    }
    for k in old.keys().filter(|k| !new.contains_key(*k)) {
        out.push(remove(k));
    }
}

/// `Option<Duration>` as humantime text (`"120s"`, `"2m"`).
mod humantime_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&format!("{}s", d.as_secs())),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        parse(&text).map(Some).map_err(serde::de::Error::custom)
    }

    /// Go-style durations as Calico writes them (`10s`, `2m`, `1h30m`, `120`).
    pub fn parse(text: &str) -> Result<Duration, String> {
        let t = text.trim();
        if let Ok(secs) = t.parse::<u64>() {
            return Ok(Duration::from_secs(secs));
        }
        let mut total = 0f64;
        let mut number = String::new();
        let mut chars = t.chars().peekable();
        let bad = || format!("{text:?} is not a duration (expected e.g. 120s, 2m, 1h30m)");
        while let Some(c) = chars.next() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let mut unit = c.to_string();
            while let Some(&n) = chars.peek() {
                if n.is_ascii_alphabetic() {
                    unit.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            let value: f64 = number.parse().map_err(|_| bad())?;
            number.clear();
            total += value
                * match unit.as_str() {
                    "ms" => 0.001,
                    "s" => 1.0,
                    "m" => 60.0,
                    "h" => 3600.0,
                    _ => return Err(bad()),
                };
        }
        if !number.is_empty() {
            return Err(bad());
        }
        Ok(Duration::from_secs_f64(total))
    }
}

pub use humantime_opt::parse as parse_go_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(
            parse_go_duration("1h30m").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(parse_go_duration("120").unwrap(), Duration::from_secs(120));
        assert!(parse_go_duration("ten").is_err());
    }

    #[test]
    fn diff_then_apply_reaches_the_target() {
        let mut a = Topology::default();
        a.nodes.insert("n1".into(), Node::new("n1"));
        let mut b = Topology::default();
        b.nodes.insert("n2".into(), Node::new("n2"));
        b.defaults.node_mesh = false;
        let changes = a.diff(&b);
        for c in changes {
            assert!(a.apply(c));
        }
        assert_eq!(a, b);
        assert!(a.diff(&b).is_empty());
    }
}
