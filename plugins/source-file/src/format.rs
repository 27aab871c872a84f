//! The topology file format and its decoder.
//!
//! ```toml
//! rules = "legacy"              # or "calico-v3"
//! [defaults]
//! asn = 65100                   # default AS (legacy default 64511)
//! node_mesh = false
//!
//! [[route_reflectors]]          # legacy rr_v4/<ip>
//! ip = "172.17.42.40"
//! cluster_id = "1.0.0.1"
//!
//! [[nodes]]
//! name = "kube-master"
//! ipv4 = "172.17.42.30"
//!
//! [[peers]]                     # global peer: every node peers with it
//! ip = "172.17.42.40"
//! asn = 65100
//!
//! [[peers]]                     # node-specific peer
//! node = "kube-node1"
//! ip = "198.51.100.11"
//! asn = 64511
//! ```
//!
//! Calico v3 peers may use `node_selector`, `peer_selector` and every BGPPeer
//! option (`local_asn`, `password`, `source_address`, `max_restart_time`,
//! `keepalive_time`, `ttl_security`, `num_allowed_local_as`, `next_hop_mode`,
//! `keep_original_next_hop`, `reverse_peering`); they need a `name`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use rrd_core::model::parse_go_duration;
use rrd_core::{
    Asn, Defaults, Node, NodeBgpConfig, NodeSelector, PeerMatch, PeerRule, ReversePeering,
    RouteReflector, RuleSet, SecretRef, SourceAddress, Topology,
};
use serde::Deserialize;

/// Why a topology file was refused. The message names the file, and the
/// line and key where the decoder can tell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("{file}: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTopology {
    #[serde(default)]
    rules: RuleSet,
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    route_reflectors: Vec<RouteReflector>,
    #[serde(default)]
    nodes: Vec<Node>,
    #[serde(default)]
    peers: Vec<FilePeer>,
    #[serde(default)]
    node_configs: BTreeMap<String, NodeBgpConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePeer {
    name: Option<String>,
    node: Option<String>,
    node_selector: Option<String>,
    /// `198.51.100.1`, `198.51.100.1:1790`, `2001:db8::1`, `[2001:db8::1]:1790`.
    ip: Option<String>,
    peer_selector: Option<String>,
    asn: Option<Asn>,
    local_asn: Option<Asn>,
    password: Option<SecretRef>,
    source_address: Option<SourceAddress>,
    max_restart_time: Option<String>,
    keepalive_time: Option<String>,
    ttl_security: Option<u8>,
    num_allowed_local_as: Option<u8>,
    next_hop_mode: Option<String>,
    #[serde(default)]
    keep_original_next_hop: bool,
    reverse_peering: Option<ReversePeering>,
}

/// Decode a topology file. `path` only names the file in errors and picks
/// the syntax by extension (`.yaml`/`.yml` = YAML, anything else TOML).
pub fn parse(path: &Path, text: &str) -> Result<Topology, FormatError> {
    let file = path.display().to_string();
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let raw: FileTopology = if yaml {
        serde_yaml::from_str(text).map_err(|e| FormatError::Syntax {
            file: file.clone(),
            message: e.to_string(),
        })?
    } else {
        toml::from_str(text).map_err(|e| FormatError::Syntax {
            file: file.clone(),
            message: e.to_string().trim_end().replace('\n', " | "),
        })?
    };
    let invalid = |key: String, message: String| FormatError::Invalid {
        file: file.clone(),
        key,
        message,
    };

    let mut t = Topology {
        rules: raw.rules,
        defaults: raw.defaults,
        node_configs: raw.node_configs,
        ..Topology::default()
    };
    for (i, rr) in raw.route_reflectors.into_iter().enumerate() {
        if t.route_reflectors.insert(rr.ip, rr.clone()).is_some() {
            return Err(invalid(
                format!("route_reflectors[{i}].ip"),
                format!("{} is listed twice", rr.ip),
            ));
        }
    }
    for (i, node) in raw.nodes.into_iter().enumerate() {
        let name = node.name.clone();
        if name.is_empty() {
            return Err(invalid(
                format!("nodes[{i}].name"),
                "must not be empty".into(),
            ));
        }
        if t.nodes.insert(name.clone(), node).is_some() {
            return Err(invalid(
                format!("nodes[{i}].name"),
                format!("node {name:?} is listed twice"),
            ));
        }
    }
    for (i, p) in raw.peers.into_iter().enumerate() {
        let rule = peer_rule(p, t.rules)
            .map_err(|(field, message)| invalid(format!("peers[{i}]{field}"), message))?;
        let name = rule.name.clone();
        if t.peers.insert(name.clone(), rule).is_some() {
            return Err(invalid(
                format!("peers[{i}]"),
                format!("a peer named {name:?} is listed twice"),
            ));
        }
    }
    Ok(t)
}

fn peer_rule(p: FilePeer, rules: RuleSet) -> Result<PeerRule, (&'static str, String)> {
    let nodes = match (p.node, p.node_selector) {
        (Some(_), Some(_)) => return Err(("", "set node or node_selector, not both".into())),
        (Some(n), None) => NodeSelector::Named(n),
        (None, Some(s)) => NodeSelector::Selector(s),
        (None, None) => NodeSelector::All,
    };
    let peer = match (p.ip, p.peer_selector) {
        (Some(_), Some(_)) => return Err(("", "set ip or peer_selector, not both".into())),
        (Some(ip), None) => {
            let (addr, port) = parse_peer_ip(&ip).map_err(|m| (".ip", m))?;
            PeerMatch::Ip { addr, port }
        }
        (None, Some(s)) => PeerMatch::Selector(s),
        (None, None) => return Err(("", "needs ip or peer_selector".into())),
    };
    let name = match (p.name, &nodes, &peer, rules) {
        (Some(n), ..) => n,
        (None, NodeSelector::All, PeerMatch::Ip { addr, port: None }, RuleSet::Legacy) => {
            PeerRule::legacy_global(*addr, None).name
        }
        (None, NodeSelector::Named(node), PeerMatch::Ip { addr, port: None }, RuleSet::Legacy) => {
            PeerRule::legacy_node(node, *addr, None).name
        }
        _ => return Err((".name", "a name is required for this peer".into())),
    };
    let duration = |field: &'static str,
                    v: Option<String>|
     -> Result<Option<Duration>, (&'static str, String)> {
        v.map(|s| parse_go_duration(&s).map_err(|m| (field, m)))
            .transpose()
    };
    Ok(PeerRule {
        name,
        nodes,
        peer,
        asn: p.asn,
        local_asn: p.local_asn,
        password: p.password,
        source_address: p.source_address.unwrap_or_default(),
        max_restart_time: duration(".max_restart_time", p.max_restart_time)?,
        keepalive_time: duration(".keepalive_time", p.keepalive_time)?,
        ttl_security: p.ttl_security,
        num_allowed_local_as: p.num_allowed_local_as,
        next_hop_mode: p.next_hop_mode,
        keep_original_next_hop: p.keep_original_next_hop,
        reverse_peering: p.reverse_peering.unwrap_or_default(),
    })
}

fn parse_peer_ip(text: &str) -> Result<(IpAddr, Option<u16>), String> {
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Ok((addr, None));
    }
    text.parse::<SocketAddr>()
        .map(|sa| (sa.ip(), Some(sa.port())))
        .map_err(|_| format!("{text:?} is not an IP address or ip:port"))
}

#[cfg(test)]
mod tests;
